"""What each booking field accepts as *text* (a CSV field, a JSON string), as one regular expression.

The validator matches text against ``text_pattern(name)`` and the API's OpenAPI schema publishes
it, so the two cannot disagree. Both derive from the column spec (``schema.COLUMNS_BY_NAME``).
Numbers are written plainly (no sign, no exponent: "1e3" and "+5" are refused with that reason),
with up to 10 spaces or tabs around and up to 10 leading zeros.
"""

from __future__ import annotations

import functools

from data_engineering.src.calendar_pattern import ISO_DATE
from data_engineering.src.schema import COLUMNS_BY_NAME, NULL_TOKENS

_SPACE = r"[ \t]{0,10}"
_ZEROS = "0{0,10}"
_NULL_TEXT = "|".join(sorted(t for t in NULL_TOKENS if t)) + "|"  # ... and the empty text
_META = frozenset(".^$*+?()[]{}|\\")


def literal(text: str) -> str:
    """``text`` as a regex matching itself (only metacharacters escaped: ECMA and Python agree)."""
    return "".join(f"\\{c}" if c in _META else c for c in text)


def _digits_range(low: str, high: str) -> list[str]:
    """Patterns for the numbers low..high, both written with the same number of digits."""
    if not low:
        return [""]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _digits_range(low[1:], high[1:])]
    width = len(low) - 1
    parts = []
    if low[1:] == "0" * width:
        start = low[0]
    else:
        parts += [low[0] + rest for rest in _digits_range(low[1:], "9" * width)]
        start = str(int(low[0]) + 1)
    if high[1:] == "9" * width:
        end = high[0]
        tail = [f"[{start}-{end}]" + ("[0-9]" * width)] if start <= end else []
        return parts + tail
    end = str(int(high[0]) - 1)
    if start <= end:
        parts.append(f"[{start}-{end}]" + "[0-9]" * width)
    return parts + [high[0] + rest for rest in _digits_range("0" * width, high[1:])]


def integer_range_pattern(low: int, high: int) -> str:
    """A regex (no anchors) for the whole numbers low..high written without leading zeros."""
    if low < 0 or high < low:
        raise ValueError(f"cannot write a pattern for {low}..{high}")
    parts = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        last = min(high, 10**digits - 1)
        if first <= last:
            parts += _digits_range(str(first), str(last))
    return "(?:" + "|".join(parts) + ")"


def whole_number_text(alternatives: str) -> str:
    """A regex body (no anchors) of the plain texts of the whole numbers ``alternatives`` matches."""
    return f"{_ZEROS}{alternatives}(?:\\.0{{0,20}})?"


def number_text(low: int, high: int, *, whole: bool = True) -> str:
    """A regex body (no anchors) of the plain texts of the numbers low..high."""
    if not whole:
        # Below the maximum any fraction is fine; at the maximum only a zero one.
        below = f"{_ZEROS}{integer_range_pattern(low, high - 1)}(?:\\.[0-9]{{0,20}})?"
        at_top = f"{_ZEROS}{high}(?:\\.0{{0,20}})?"
        return "|".join([below, at_top] + (["\\.[0-9]{1,20}"] if low == 0 else []))
    return whole_number_text(integer_range_pattern(low, high))


def anchored(body: str, *, nullable: bool = False) -> str:
    """``body`` with the spaces a field may have around it (and the null tokens if nullable)."""
    if nullable:
        body += "|" + _NULL_TEXT
    return f"^{_SPACE}(?:{body}){_SPACE}$"


@functools.cache
def text_pattern(name: str) -> str:
    """The anchored regex of every text the field accepts (null tokens where it may be missing)."""
    col = COLUMNS_BY_NAME[name]
    if col.kind in ("int", "float", "id"):
        high = int(col.max) if col.max is not None else 10**9
        body = number_text(int(col.min or 0), high, whole=col.kind != "float")
    elif col.categories is not None:
        body = "|".join(literal(c) for c in col.categories)
    elif col.pattern is not None:
        body = col.pattern.removeprefix("^").removesuffix("$")
    else:  # a date: a day that exists, so that the published schema refuses what the validator does
        body = ISO_DATE
    return anchored(body, nullable=col.nullable)

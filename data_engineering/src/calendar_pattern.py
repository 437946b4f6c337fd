"""A calendar day written YYYY-MM-DD, as one regular expression: exactly the days that exist.

The column spec publishes what each field accepts as text (``text_patterns.text_pattern``), and the
API's OpenAPI schema carries that pattern. For a date, "four digits, two, two" would admit
``0000-00-00`` and ``2017-02-29``, which the validator refuses (``datetime.date.fromisoformat``):
a client following the published schema would be told its booking is fine and get a 422. This
pattern admits exactly the days ``fromisoformat`` accepts in that form — years 0001 to 9999, each
month's length, 29 February in leap years only (divisible by 4, centuries only when divisible by
400) — with nothing but literals, classes and alternation, so that every JSON Schema and regex
engine (and Hypothesis, which generates from it) reads it the same way.
"""

from __future__ import annotations

# 0001..9999: at least one digit is not 0.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_ANY_MONTH = "(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
_NOT_FEBRUARY = "(?:0[13-9]|1[0-2])-(?:29|30)"
_LONG_MONTH = "(?:0[13578]|1[02])-31"
# Leap years: the last two digits a multiple of 4 other than 00, or a century whose first two
# digits are a multiple of 4 other than 00 (year 0000 does not exist).
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"

ISO_DATE = f"(?:{_YEAR}-(?:{_ANY_MONTH}|{_NOT_FEBRUARY}|{_LONG_MONTH})|{_LEAP_YEAR}-02-29)"

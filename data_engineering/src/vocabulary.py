"""The categorical vocabularies of a bookings export: which hotels, room types, meal plans, market
segments, distribution channels, deposit and customer types it holds, and how often.

    ./cli.sh vocabulary FILE [--write PATH]
    python -m data_engineering.src.vocabulary FILE [--write PATH]

FILE is a CSV with a header row, plain or gzip (detected from the bytes), with at least the
columns below; other columns are ignored. It is read by the platform's one CSV reader
(``io.RawReader``: streamed in blocks with every field as text, so the size of the export does
not matter; separator and encoding detected; its limits), and a line that is no record is set
aside and named, not counted. Prints one table per vocabulary (value, count, share);
``--write PATH`` also writes them as the YAML vocabulary file the column spec reads (the default
is data_engineering/vocabulary.yaml), atomically. ``room_type`` is the union of
``reserved_room_type`` and, when present, ``assigned_room_type``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.compute as pc
import yaml

from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import as_text
from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.messages import first_line
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.progress import progress
from data_engineering.src.schema import (
    VOCABULARIES,
    VOCABULARY_ENV,
    dump_vocabulary,
    vocabulary_in_use,
)
from data_engineering.src.schema import VOCABULARY_FILE as DEFAULT_FILE

if TYPE_CHECKING:
    from data_engineering.src.validate import Problem

OPTIONAL_COLUMNS = frozenset({"assigned_room_type"})
BLOCK_SIZE = 16 << 20  # bytes of CSV parsed at a time


class VocabularyError(RuntimeError):
    """The file cannot be read as a bookings CSV, or the result cannot be written."""


@dataclass(frozen=True)
class Vocabulary:
    source: Path
    rows: int
    counts: dict[str, Counter[str]]  # vocabulary -> value -> occurrences
    empty: dict[str, int]  # vocabulary -> empty fields (not values)
    columns: dict[str, tuple[str, ...]]  # vocabulary -> the columns it was read from
    set_aside: dict[int, str] = field(default_factory=dict)  # lines that are no record -> why

    def values(self) -> dict[str, list[str]]:
        return {name: sorted(counter) for name, counter in self.counts.items()}


def _columns_to_read(path: Path, header: list[str]) -> dict[str, tuple[str, ...]]:
    needed = [column for columns in VOCABULARIES.values() for column in columns]
    missing = [column for column in needed if column not in header and column not in OPTIONAL_COLUMNS]
    if missing:
        hint = (
            " Is it a CSV separated by commas, semicolons or tabs, with a header row?"
            if len(header) == 1
            else ""
        )
        raise VocabularyError(
            f"{path}: missing column(s) {', '.join(missing)} (the header has {len(header)} "
            f"column(s): {', '.join(header[:8])}{', ...' if len(header) > 8 else ''}).{hint}"
        )
    times = Counter(header)
    repeated = sorted(column for column in needed if times[column] > 1)
    if repeated:
        raise VocabularyError(f"{path}: column(s) {', '.join(repeated)} appear more than once in the header")
    return {
        name: tuple(column for column in columns if column in header)
        for name, columns in VOCABULARIES.items()
    }


def count(path: Path, *, block_size: int = BLOCK_SIZE) -> Vocabulary:
    """Count the values of every vocabulary in ``path``, streaming it ``block_size`` bytes at a time
    with the platform's one CSV reader (its separator, encoding and limits: ``io.RawReader``)."""
    if not path.exists():
        raise VocabularyError(f"{path} does not exist")
    if not path.is_file():
        raise VocabularyError(f"{path} is not a file")
    columns: dict[str, tuple[str, ...]] = {}

    def columns_of(header: list[str]) -> tuple[str, ...]:
        columns.update(_columns_to_read(path, header))
        return tuple(sorted({column for names in columns.values() for column in names}))

    per_column: dict[str, Counter[str]] = {}
    rows = 0
    set_aside: dict[int, str] = {}
    try:
        with (
            RawReader(path, chunk_bytes=block_size, columns_of=columns_of, label=str(path)) as reader,
            progress(desc="vocabulary: read", unit="rows") as bar,
        ):
            per_column = {column: Counter() for column in reader.columns}
            for chunk in reader:
                rows += chunk.table.num_rows
                bar.set(rows)
                set_aside.update((m.line, m.reason) for m in chunk.misaligned)
                for column in reader.columns:
                    values = pc.utf8_trim_whitespace(as_text(chunk.table[column]))
                    for item in pc.value_counts(values).to_pylist():
                        per_column[column][item["values"]] += item["counts"]
    except CsvFormatError as exc:
        raise VocabularyError(str(exc)) from None
    except OSError as exc:
        raise VocabularyError(f"{path}: cannot read it ({first_line(exc)})") from exc
    counts: dict[str, Counter[str]] = {}
    empty: dict[str, int] = {}
    for name, sources in columns.items():
        merged = sum((per_column[column] for column in sources), Counter())
        empty[name] = merged.pop("", 0)
        counts[name] = merged
    return Vocabulary(path, rows, counts, empty, columns, set_aside)


def format_tables(vocabulary: Vocabulary) -> str:
    """One table per vocabulary, most frequent value first."""
    out = [f"{vocabulary.source}: {vocabulary.rows:,} bookings"]
    if vocabulary.set_aside:
        shown = [f"line {line:,}: {why}" for line, why in sorted(vocabulary.set_aside.items())[:SHOWN_VALUES]]
        more = len(vocabulary.set_aside) - SHOWN_VALUES
        out.append(
            f"({len(vocabulary.set_aside):,} line(s) set aside, not counted: {'; '.join(shown)}"
            + (f"; and {more:,} more)" if more > 0 else ")")
        )
    for name, counter in vocabulary.counts.items():
        total = sum(counter.values()) + vocabulary.empty[name]
        read_from = " + ".join(vocabulary.columns[name])
        out += ["", f"{name} ({len(counter)} values, from {read_from})"]
        width = max([len("value"), *(len(value) for value in counter)])
        out.append(f"  {'value':<{width}}  {'count':>12}  {'share':>6}")
        for value, n in sorted(counter.items(), key=lambda item: (-item[1], item[0])):
            out.append(f"  {value:<{width}}  {n:>12,}  {n / total:>6.1%}")
        if vocabulary.empty[name]:
            out.append(f"  ({vocabulary.empty[name]:,} empty fields: not values, left out)")
    return "\n".join(out)


def render_yaml(
    values: Mapping[str, Sequence[str]],
    header: Sequence[str],
    counts: Mapping[str, Counter[str]] | None = None,
) -> str:
    """The vocabulary file (``schema.dump_vocabulary``), checked to read back as written.

    With ``counts``, each line ends with a comment giving every value's count."""
    unknown = sorted(set(values) ^ set(VOCABULARIES))
    if unknown:
        raise VocabularyError(
            f"vocabularies must be exactly {', '.join(VOCABULARIES)} (not: {', '.join(unknown)})"
        )
    for name in VOCABULARIES:
        items = values[name]
        if not items or any(not isinstance(item, str) or not item.strip() for item in items):
            raise VocabularyError(f"{name}: a vocabulary needs at least one value, and no empty one")
    lines = dump_vocabulary(values, header).splitlines()
    if counts is not None:
        prefixes = {f"{name}: ": name for name in VOCABULARIES}
        for i, line in enumerate(lines):
            found = next((n for prefix, n in prefixes.items() if line.startswith(prefix)), None)
            if found is not None:
                lines[i] += "  # " + "; ".join(
                    f"{item} {counts[found][item]:,}" for item in sorted(values[found])
                )
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != {name: sorted(values[name]) for name in VOCABULARIES}:
        raise VocabularyError("the vocabulary does not survive a YAML round trip")  # a value YAML mangles
    return text


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise VocabularyError(f"cannot write {path}: {exc.strerror}") from exc


def file_header(vocabulary: Vocabulary) -> list[str]:
    written_by = f"./cli.sh vocabulary {vocabulary.source.name} --write PATH"
    return [
        "Categorical vocabularies of the bookings: the values the column spec accepts for each",
        "categorical column (room_type: reserved_room_type and assigned_room_type).",
        f"Written by `{written_by}` from {vocabulary.rows:,} bookings;",
        "rerun it on a newer export to regenerate. Counts per value in the trailing comments.",
    ]


# ------------------------------------------------------------------ values the vocabulary lacks
VOCABULARY_OF = {column: name for name, columns in VOCABULARIES.items() for column in columns}
SHOWN_VALUES = 5  # per vocabulary, the most frequent; the others are counted


@dataclass
class OutsideVocabulary:
    """Values of rejected rows that the vocabulary in use does not list, counted over a whole file.

    ``add`` the validator's details of each chunk; ``message`` names the values, how many rows
    hold each, and how a hotel group derives a vocabulary of its own."""

    rows: int = 0  # rows holding at least one such value
    values: dict[str, Counter[str]] = field(default_factory=dict)  # vocabulary -> value -> rows

    def add(self, details: Iterable[Sequence[Problem]]) -> None:
        for problems in details:
            found = {
                (VOCABULARY_OF[p.field], p.unknown)
                for p in problems
                if p.unknown is not None and p.field in VOCABULARY_OF
            }
            self.rows += bool(found)
            for name, value in found:
                self.values.setdefault(name, Counter())[value] += 1

    def report(self) -> dict[str, dict[str, int]]:
        """For reports/data_validation.json: vocabulary -> every such value -> rows holding it."""
        return {name: dict(self.values[name].most_common()) for name in VOCABULARIES if name in self.values}

    def message(self, rows_in: int) -> str:
        """One line: which values, in how many rows, and what to do if they are the hotels' own."""
        parts = []
        for name in VOCABULARIES:
            counter = self.values.get(name)
            if not counter:
                continue
            shown = [f"{value!r} ({n:,})" for value, n in counter.most_common(SHOWN_VALUES)]
            more = len(counter) - SHOWN_VALUES
            parts.append(f"{name} {', '.join(shown)}" + (f" and {more} more" if more > 0 else ""))
        return (
            f"{self.rows:,} of {rows_in:,} rows hold values that are not in the vocabulary "
            f"{vocabulary_in_use()}: {'; '.join(parts)}. If they are your hotels' own, derive the "
            f"vocabulary from a bookings export that has them and point {VOCABULARY_ENV} at it: "
            f"./cli.sh vocabulary EXPORT.csv --write vocabulary.yaml, then "
            f"{VOCABULARY_ENV}=$PWD/vocabulary.yaml (CLI_DOCS.md, vocabulary)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./cli.sh vocabulary",
        description="Distinct values and counts of the categorical columns of a bookings CSV(.gz).",
    )
    parser.add_argument("file", type=Path, help="bookings CSV, plain or gzip, with a header row")
    parser.add_argument(
        "--write",
        type=Path,
        metavar="PATH",
        help=f"also write the vocabulary YAML there (the default file: {DEFAULT_FILE.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)
    try:
        vocabulary = count(args.file)
        print(format_tables(vocabulary))
        if args.write:
            write_atomically(
                args.write, render_yaml(vocabulary.values(), file_header(vocabulary), vocabulary.counts)
            )
            print(f"\nvocabulary: wrote {args.write}")
    except VocabularyError as exc:
        print(f"vocabulary: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

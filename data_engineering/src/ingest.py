"""Stage ``ingest``: copy or download the raw bookings file to ``data/raw/hotel_bookings.csv``.

Where from, first match wins:

1. ``HOTEL_BOOKINGS_SOURCE`` (environment or ``.env.ENV``), with ``HOTEL_BOOKINGS_SHA256``;
2. the source of the last successful ingest, recorded beside the file
   (``data/raw/hotel_bookings.source.json``: path or URL, origin, sha256), as long as params.yaml's
   ``ingest`` section still names what it named then: exporting the variable once is enough;
3. params.yaml ``ingest.source`` (with ``ingest.sha256``).

A local path or an http(s) URL, plain CSV or gzip (detected from the bytes, not the name). A URL
remembered from the last ingest is not downloaded again while ``data/raw`` still holds what it
gave (same sha256): one line says so. A remembered local file is read again (cheap; an export
rewritten in place is picked up); when it is gone, the file it gave is reused.

Nothing is replaced before it is known good: the source is staged in a temporary file beside
``data/raw`` (its header and first lines checked before a byte is copied, so a hostile file is
refused at once), and only then put in place: by this stage once the whole file parses and holds
at least one valid booking, by ``initialize-data`` once the load succeeded. When the content's
sha256 is unchanged the existing file is kept untouched (DVC then sees nothing new and skips
every later stage).

Beside it, ``data/raw/vocabulary.yaml`` holds the categories the bookings are validated with
(``HOTEL_VOCABULARY``'s file, else the default), rewritten only when they changed: the stages that
depend on the vocabulary depend on this file, so pointing ``HOTEL_VOCABULARY`` at other
categories reruns them.

Which source (``ingest_source``) and how it is staged (``ingest_staging``) live beside this module;
this one checks the staged rows, records the vocabulary and is the stage's command line.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from data_engineering.src.files.reader import RawReader
from data_engineering.src.ingest_source import IngestParams, SourceError, resolve_source
from data_engineering.src.ingest_staging import IngestResult, stage
from data_engineering.src.params import ParamsError, read_section
from data_engineering.src.paths import RAW_FILE, RAW_VOCABULARY, display_path
from data_engineering.src.schema import VOCABULARY, ColumnsError, dump_vocabulary, vocabulary_in_use
from data_engineering.src.validate import validate
from data_engineering.src.vocabulary import OutsideVocabulary, VocabularyError, write_atomically


class NoValidRowsError(ValueError):
    """The source holds no valid booking: nothing may be loaded, and nothing was replaced."""

    def __init__(self, rows: int, reasons: Mapping[str, int], outside: str = "", blank: int = 0) -> None:
        self.rows = rows
        self.reasons = dict(reasons)  # rejected rows per reason
        if not rows:
            what = "the source holds no booking, only a header" + (
                f" and {blank:,} blank line(s)" if blank else ""
            )
        else:
            top = max(self.reasons, key=self.reasons.__getitem__) if self.reasons else "unknown"
            because = outside or f"the most frequent reason: {top} ({self.reasons.get(top, 0):,} rows)"
            what = f"none of the {rows:,} rows is valid, nothing was loaded; {because}"
        super().__init__(f"{what} (every table and file is as it was)")


def check_rows(path: Path, label: str) -> None:
    """Read ``path`` whole (it must parse: a hostile line raises CsvFormatError) and validate it
    until a row is valid; raise NoValidRowsError, with the reasons, when none is."""
    rows = 0
    reasons: Counter[str] = Counter()
    outside = OutsideVocabulary()
    valid = False
    with RawReader(path, label=label) as reader:
        for chunk in reader:
            rows += chunk.table.num_rows + len(chunk.misaligned)
            if valid:
                continue  # one valid row is enough; the rest is read to know that it parses
            checked = validate({c: chunk.table[c] for c in reader.columns}, reader.columns)
            valid = len(checked.accepted) > 0
            outside.add(checked.details)
            reasons.update(checked.reason_counts)
            reasons.update(m.key for m in chunk.misaligned)
    if not valid:
        raise NoValidRowsError(
            rows, reasons, outside.message(rows) if outside.rows else "", reader.blank_lines
        )


def record_vocabulary(dest: Path = RAW_VOCABULARY) -> bool:
    """Write the vocabulary in use to ``dest`` (atomically) unless it holds it already; True if written.

    Its categories only, sorted: moving the file or editing its comments reruns nothing."""
    text = dump_vocabulary(
        VOCABULARY, ["The vocabulary the raw bookings are validated with (data/README.md)."]
    )
    if dest.exists() and dest.read_text(encoding="utf-8") == text:
        return False
    try:
        write_atomically(dest, text)
    except VocabularyError as exc:
        raise SourceError(str(exc)) from exc
    return True


def report_vocabulary(dest: Path) -> None:
    snapshot = dest.with_name(RAW_VOCABULARY.name)
    state = "updated" if record_vocabulary(snapshot) else "unchanged, kept"
    print(f"ingest: vocabulary {vocabulary_in_use()} -> {display_path(snapshot)} ({state})")


def ingest(params: IngestParams | None = None, dest: Path = RAW_FILE) -> IngestResult:
    """The DVC stage: stage the source, check it whole when it is new, put it in place."""
    params = params or read_section("ingest", IngestParams)
    source = resolve_source(params, dest)
    with stage(source, dest, retries=params.retries, timeout=params.timeout_seconds) as staged:
        if staged.changed:
            check_rows(staged.path, source.location)
        staged.commit(params)
        print(staged.line())
        result = staged.result
    report_vocabulary(dest)
    return result


def print_reasons(reasons: Mapping[str, int], out: TextIO | None = None) -> None:
    """The rejected rows by reason, most frequent first."""
    if reasons:
        print("rejected rows by reason:", file=out)
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>7,}  {reason}", file=out)


def main() -> int:
    try:
        ingest()
    except ColumnsError as exc:
        print(
            f"ingest: error: the source is not the bookings dataset: {exc}; nothing was written",
            file=sys.stderr,
        )
        return 1
    except NoValidRowsError as exc:
        print_reasons(exc.reasons, sys.stderr)
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    except (SourceError, ParamsError, ValueError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

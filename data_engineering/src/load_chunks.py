"""A raw bookings file streamed through validation and the transformation, a chunk at a time.

Each chunk's rows get a stable booking key (``BookingIds``; the hotel's own ``booking_id`` when the
file has one), are validated and transformed, and go to their ``Outputs``: the processed rows, the
rejected ones with their reasons, and (for the database) every row as received."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.records import RawChunk, as_text
from data_engineering.src.files.writing import CsvSink
from data_engineering.src.paths import (
    REJECTED_FILE,
    display_path,
    processed_file,
)
from data_engineering.src.progress import progress
from data_engineering.src.schema import BOOKING_ID, BOOKING_ID_PATTERN, vocabulary_in_use
from data_engineering.src.validate import ID_COLUMN, LINE_COLUMN, REASONS_COLUMN, validate
from data_engineering.src.vocabulary import OutsideVocabulary
from data_engineering.transformation import Transformation

ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "text": pa.string(), "date": pa.date32()}


class BookingIds:
    """A stable 63-bit key per row: the hash of the row's text and its rank among identical rows.

    The dataset has no booking number. Hashing the content gives a booking the same id in the
    103,505-row extract and in the full 119,390-row file; the rank keeps exact duplicates apart.
    Ranks carry over from chunk to chunk, so the ids do not depend on how the file is cut.
    """

    def __init__(self) -> None:
        self._seen: Counter[int] = Counter()
        self.duplicates = 0

    def __call__(self, *texts: pd.DataFrame) -> np.ndarray:
        """Ids of the rows of ``texts`` (frames of the rows' text), in order."""
        hashes = np.concatenate([pd.util.hash_pandas_object(t, index=False).to_numpy() for t in texts])
        codes, uniques = pd.factorize(hashes)
        rank = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy().copy()
        rank += np.array([self._seen[u] for u in uniques], dtype=np.int64)[codes]
        self._seen.update(dict(zip(uniques.tolist(), np.bincount(codes).tolist(), strict=True)))
        self.duplicates += int((rank > 0).sum())
        keyed = pd.DataFrame({"hash": hashes, "rank": rank})
        combined = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
        return (combined >> np.uint64(1)).astype(np.int64)


@dataclass
class Outputs:
    """Where each chunk's rows go: the processed rows, the rejected ones, every row as received."""

    processed: Callable[[pa.Table], None]
    rejected: Callable[[pa.Table], None]
    raw: Callable[[pa.Table], None] | None


def _text_of(chunk: RawChunk, columns: tuple[str, ...], rows: np.ndarray) -> dict[str, pa.Array]:
    """The raw text of some rows, in the order given: positions < n are well-formed rows, the
    others the chunk's misaligned lines."""
    n = chunk.table.num_rows
    formed = rows < n
    where = np.empty(len(rows), dtype=np.int64)  # each row's place in [well-formed..., misaligned...]
    where[formed] = np.arange(formed.sum())
    where[~formed] = formed.sum() + np.arange((~formed).sum())
    out = {}
    for name in columns:
        taken = as_text(chunk.table[name]).take(pa.array(rows[formed], pa.int64()))
        if formed.all():
            out[name] = taken
            continue
        extra = pa.array([chunk.misaligned[i].fields[name] for i in rows[~formed] - n], pa.string())
        out[name] = pa.concat_arrays([taken, extra]).take(pa.array(where, pa.int64()))
    return out


def chunk_frames(chunk: RawChunk, columns: tuple[str, ...]) -> tuple[pd.DataFrame, ...]:
    """Every row's text as frames, in row order: the well-formed rows, then the misaligned lines.

    Dictionary-encoded text becomes pandas categoricals, hashed once per distinct value.
    """
    formed = chunk.table.select(list(columns)).to_pandas()
    if not chunk.misaligned:
        return (formed,)
    aside = pd.DataFrame([[m.fields[c] for c in columns] for m in chunk.misaligned], columns=list(columns))
    return formed, aside.astype("str")


def _keys(chunk: RawChunk, columns: tuple[str, ...], ids: BookingIds) -> np.ndarray:
    """Each row's key (text): the hotel's reservation id where the file gives a valid one, else
    the row's content hash (``BookingIds``), both unique per booking."""
    keys = ids(*chunk_frames(chunk, columns)).astype(str).astype(object)
    if BOOKING_ID not in columns:
        return keys
    given = _text_of(chunk, (BOOKING_ID,), np.arange(chunk.table.num_rows + len(chunk.misaligned)))[
        BOOKING_ID
    ]
    texts = pc.utf8_trim(given, " \t")
    valid = pc.fill_null(pc.match_substring_regex(texts, BOOKING_ID_PATTERN), False).to_numpy(
        zero_copy_only=False
    )
    keys[valid] = np.asarray(texts.to_pylist(), dtype=object)[valid]
    return keys


def _process_chunk(
    chunk: RawChunk,
    columns: tuple[str, ...],
    transformation: Transformation,
    ids: BookingIds,
    out: Outputs,
    *,
    kinds: Mapping[str, str],
    outside: OutsideVocabulary,
) -> Counter[str]:
    n, width = chunk.table.num_rows, len(chunk.misaligned)
    keys = _keys(chunk, columns, ids)
    validated = validate({c: chunk.table[c] for c in columns}, columns)
    outside.add(validated.details)
    processed = transformation.transform({**validated.columns, ID_COLUMN: keys[validated.accepted]})
    out.processed(
        pa.table(
            {name: pa.array(processed[name], ARROW_TYPES[kinds[name]], from_pandas=True) for name in kinds}
        )
    )

    lines = np.concatenate([chunk.lines, np.array([m.line for m in chunk.misaligned], dtype=np.int64)])
    bad = np.concatenate([validated.rejected, np.arange(n, n + width)])
    reasons = validated.reasons + [m.reason for m in chunk.misaligned]
    order = np.argsort(lines[bad], kind="stable")
    bad, reasons = bad[order], [reasons[i] for i in order]
    # The key last: a file's own booking_id column holds the same text where it is valid.
    out.rejected(
        pa.table(
            {
                LINE_COLUMN: pa.array(lines[bad], pa.int64()),
                **_text_of(chunk, columns, bad),
                REASONS_COLUMN: pa.array(reasons, pa.string()),
                ID_COLUMN: pa.array(keys[bad], pa.string()),
            }
        ).select(list(rejected_schema(columns).names))
    )
    if out.raw is not None:
        everyone = np.argsort(lines, kind="stable")
        out.raw(
            pa.table(
                {
                    LINE_COLUMN: pa.array(lines[everyone], pa.int64()),
                    **_text_of(chunk, columns, everyone),
                    ID_COLUMN: pa.array(keys[everyone], pa.string()),
                }
            ).select([ID_COLUMN, LINE_COLUMN, *(c for c in columns if c != ID_COLUMN)])
        )
    counts = Counter(validated.reason_counts)
    counts.update(m.key for m in chunk.misaligned)
    return counts


def rejected_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [(ID_COLUMN, pa.string()), (LINE_COLUMN, pa.int64())]
        + [(c, pa.string()) for c in columns if c != ID_COLUMN]
        + [(REASONS_COLUMN, pa.string())]
    )


def read_validate_transform(
    read_from: Path,
    transformation: Transformation,
    destination: str,
    outside: OutsideVocabulary,
    *,
    label: str,
    source_file: Path,
) -> tuple[dict[str, Any], dict[str, list[pa.Table]], CsvSink | None, CsvSink, tuple[str, ...]]:
    """Stream the raw file (or the staged source) through validation and the transformation."""
    tables: dict[str, list[pa.Table]] = {"processed": [], "raw": [], "rejected": []}
    with RawReader(read_from, label=label) as reader:
        columns = reader.columns
        # The file's optional columns (outcomes, ids) are carried through when it has them.
        kinds = transformation.output_columns([ID_COLUMN, *columns])
        schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in kinds.items()])
        rejected_sink = CsvSink(REJECTED_FILE, rejected_schema(columns))
        csv_sink = CsvSink(processed_file(transformation.version), schema) if destination == "csv" else None
        in_db = destination == "db"

        def reject(table: pa.Table) -> None:
            rejected_sink.write(table)
            if in_db:
                tables["rejected"].append(table)

        outputs = Outputs(
            processed=csv_sink.write if csv_sink is not None else tables["processed"].append,
            rejected=reject,
            raw=tables["raw"].append if in_db else None,
        )
        ids = BookingIds()
        reasons: Counter[str] = Counter()
        try:
            with progress(
                total=reader.size, desc="initialize-data: validate", unit="B", unit_scale=True
            ) as bar:
                for chunk in reader:
                    reasons.update(
                        _process_chunk(
                            chunk, columns, transformation, ids, outputs, kinds=kinds, outside=outside
                        )
                    )
                    bar.set(reader.position)
        except BaseException:
            rejected_sink.abort()
            if csv_sink is not None:
                csv_sink.abort()
            raise
    loaded = csv_sink.rows if csv_sink is not None else sum(t.num_rows for t in tables["processed"])
    report = {
        "source_file": display_path(source_file),
        "rows_in": loaded + rejected_sink.rows,
        "rows_loaded": loaded,
        "rows_rejected": rejected_sink.rows,
        "rejection_reasons": dict(sorted(reasons.items())),
        "vocabulary": vocabulary_in_use(),
        "rows_outside_vocabulary": outside.rows,
        "outside_vocabulary": outside.report(),
        "exact_duplicate_rows": ids.duplicates,
        "blank_lines_skipped": reader.blank_lines,
        "duplicate_policy": "kept (see data_engineering/README.md#duplicates)",
    }
    return report, tables, csv_sink, rejected_sink, columns

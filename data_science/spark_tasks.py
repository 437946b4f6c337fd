"""The tasks ``spark_batch`` runs in Spark's Python workers (``mapInArrow``): read, screen, score.

Each is the default engine's code on a batch of rows: the platform's reader, ``CancellationModel.screen``
(refused rows get ``batch_outputs.rejected_rows``'s reasons) and the registered pyfunc through
``mlflow.pyfunc.spark_udf``. Rows travel under internal column names (``c0``, ``c1``, ...) with
their line number, the reader's problem and the screen's reasons beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Accumulator, AccumulatorParam, Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (Spark's own idiom)

from data_engineering.src.engine import make_engine
from data_engineering.src.files.parquet import open_bookings
from data_engineering.src.files.records import Misaligned, RawChunk, as_text
from data_engineering.src.schema import AS_OF, BOOKING_ID, SCORING_FIELDS
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.batch_outputs import chunk_bookings, rejected_rows
from data_science.booking_scores import ScoresRun, chunks_of, on_the_books_query
from data_science.model import CancellationModel

# Internal column names: a file's own columns become c0, c1, ... (a hotel's "Réf. client" or
# "a.b" would otherwise need quoting in every Spark expression) and get their names back on output.
LINE = "__line"
PROBLEM = "__problem"  # why the reader set a line aside (misaligned), else null
REASONS = "__reasons"  # every reason a row is refused, else null
ANSWER = "__answer"
ANSWER_TYPE = f"{BOOKING_ID} string, as_of string, cancel_probability double, will_cancel boolean"
Batches = Iterator[pa.RecordBatch]


def internal_names(names: list[str]) -> list[str]:
    """The internal column name of each of a file's columns, in order."""
    return [f"c{i}" for i in range(len(names))]


def task_schema(names: list[str], last: str) -> str:
    """The DDL schema of a task's output: the line number, the columns as text, then ``last``."""
    return ", ".join([f"{LINE} long", *(f"{c} string" for c in internal_names(names)), f"{last} string"])


# ------------------------------------------------------------------ reading
def raw_batch(chunk: RawChunk, names: list[str]) -> pa.RecordBatch:
    """A reader's chunk as one batch: its rows, then its misaligned lines with their reason."""
    aside = chunk.misaligned
    columns: list[pa.Array] = [pa.array(np.concatenate([chunk.lines, [m.line for m in aside]]), pa.int64())]
    for name in names:
        text = as_text(chunk.table[name])
        columns.append(pa.concat_arrays([text, pa.array([m.fields[name] for m in aside], pa.string())]))
    columns.append(pa.array([None] * chunk.table.num_rows + [m.reason for m in aside], pa.string()))
    return pa.RecordBatch.from_arrays(columns, [LINE, *internal_names(names), PROBLEM])


def file_reader(path: Path, names: list[str]) -> Callable[[Batches], Batches]:
    """The task that reads the whole file (run once, on the one row of a seed frame)."""

    def read(seed: Batches) -> Batches:
        if not sum(batch.num_rows for batch in seed):
            return
        with open_bookings(path, scoring=True, announce=None) as reader:
            for chunk in reader:
                yield raw_batch(chunk, names)

    return read


def _strings(values: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    """A column of ``chunks_of`` as plain Arrow text: PostgreSQL's COPY gives dictionary-encoded
    Arrow columns, SQLite's cursor Python lists."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return as_text(values)
    return pa.array(values, pa.string())


def database_reader(job: ScoresRun, names: list[str]) -> Callable[[Batches], Batches]:
    """The task that reads the bookings on the books whose ``source_line`` lies in its seed ranges
    (``booking_scores.chunks_of``: a server-side cursor, a chunk at a time)."""

    def read(ranges: Batches) -> Batches:
        engine = make_engine(job.url)
        try:
            for seed in ranges:
                for low, high in zip(seed["low"].to_pylist(), seed["high"].to_pylist(), strict=True):
                    for columns in chunks_of(
                        engine, on_the_books_query(engine, job.day, job.version, lines=(low, high))
                    ):
                        size = len(columns[BOOKING_ID])
                        yield pa.RecordBatch.from_arrays(
                            [
                                pa.array(np.arange(size), pa.int64()),  # rows are not lines here
                                *(_strings(columns[name]) for name in names),
                                pa.nulls(size, pa.string()),
                            ],
                            [LINE, *internal_names(names), PROBLEM],
                        )
        finally:
            engine.dispose()

    return read


# ------------------------------------------------------------------ screening
class OutsideParam(AccumulatorParam[OutsideVocabulary]):
    """Spark accumulator of the values outside the vocabulary, for predict-batch's warning."""

    def zero(self, value: OutsideVocabulary) -> OutsideVocabulary:
        return OutsideVocabulary()

    def addInPlace(self, value1: OutsideVocabulary, value2: OutsideVocabulary) -> OutsideVocabulary:  # noqa: N802
        value1.rows += value2.rows
        for name, counts in value2.values.items():
            value1.values.setdefault(name, Counter()).update(counts)
        return value1


def screener(
    model: Broadcast[CancellationModel],
    names: list[str],
    as_of: np.datetime64 | None,
    outside: Accumulator[OutsideVocabulary] | None = None,
) -> Callable[[Batches], Batches]:
    """``mapInArrow``: each row as it came, with null reasons when the model would answer it, else
    every reason (its problems, or the reader's for a misaligned line) as the rejected file says."""
    internal = internal_names(names)

    def screen(batches: Batches) -> Batches:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            aside = pc.is_valid(table[PROBLEM])
            rows, lost = table.filter(pc.invert(aside)), table.filter(aside)
            chunk = RawChunk(
                pa.table({name: rows[c] for c, name in zip(internal, names, strict=True)}),
                rows[LINE].to_numpy(),
                [
                    Misaligned(line, dict(zip(names, fields, strict=True)), len(names), problem)
                    for line, *fields, problem in zip(
                        *(lost[c].to_pylist() for c in lost.column_names), strict=True
                    )
                ],
            )
            screened = model.value.screen(chunk_bookings(chunk), as_of=as_of)
            if outside is not None:
                found = OutsideVocabulary()
                found.add(screened.problems)
                outside.add(found)
            kept = rows.take(pa.array(screened.accepted, pa.int64())).drop_columns([PROBLEM])
            kept = kept.append_column(REASONS, pa.nulls(kept.num_rows, pa.string()))
            refused = rejected_rows(chunk, names, screened).rename_columns(kept.column_names)
            yield from pa.concat_tables([kept, refused]).combine_chunks().to_batches()

    return screen


def scored(
    spark: SparkSession, screened: DataFrame, names: list[str], model_dir: Path, as_of: np.datetime64 | None
) -> DataFrame:
    """The accepted rows with the pyfunc's answer (``ANSWER``), through ``spark_udf``."""
    import mlflow.pyfunc

    udf = mlflow.pyfunc.spark_udf(spark, str(model_dir), result_type=ANSWER_TYPE, env_manager="local")
    fields = [
        F.col(c).alias(name)
        for c, name in zip(internal_names(names), names, strict=True)
        if name in SCORING_FIELDS and not (as_of is not None and name == AS_OF)
    ]
    if as_of is not None:  # --as-of: one day for every booking, over any as_of column
        fields.append(F.lit(str(as_of)).alias(AS_OF))
    return screened.where(F.col(REASONS).isNull()).withColumn(ANSWER, udf(F.struct(*fields)))

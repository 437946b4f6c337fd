"""``--engine spark``: ``predict-batch`` and ``score-db`` on a Spark cluster (default ``local[*]``).

The scoring is the registered model's own pyfunc (the one ``mlflow models serve`` runs) through
``mlflow.pyfunc.spark_udf(..., env_manager="local")``. Everything else is the default engine's
code, run in Spark's Python workers, so the two engines accept, refuse and answer alike:

    read      the platform's reader (``io.open_bookings``: CSV as ``RawReader`` reads it, misaligned
              lines set aside with their reason; or Parquet), in one task: a file is one stream;
              score-db: ``booking_scores.on_the_books_query``, one task per range of ``source_line``
    spread    ``repartitionByRange`` on the line number: every core gets a contiguous run of lines,
              so the outputs keep the input's order
    screen    ``CancellationModel.screen`` (``answer``'s validation, the one implementation of
              every rule) in ``mapInArrow``; refused rows get ``batch_outputs.rejected_rows``'s
              reasons
    score     ``spark_udf`` of the pyfunc on the accepted rows only (it raises on an invalid one)
    write     predict-batch: Spark writes Parquet parts beside OUT; the driver streams them, in
              partition order, into ``io.open_sink`` (CSV or Parquet) and ``OUT.rejected.csv``,
              atomically, as the default engine does. score-db: each task appends its scores with
              ``db.insert_missing`` (idempotent: a retried task adds nothing twice)

The model is resolved once: the screening copy and the UDF come from the same downloaded version,
whatever the ``champion`` alias does meanwhile. On a cluster, IN and OUT must be on a filesystem
every executor mounts, and the executors need this project's environment (``./cli.sh sync
--spark``); ``infra/README.md`` has the rest.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from pyspark import Accumulator, AccumulatorParam, Broadcast, StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (Spark's own idiom)

from data_engineering.src import db
from data_engineering.src.engine import make_engine
from data_engineering.src.files.parquet import open_bookings
from data_engineering.src.files.records import Misaligned, RawChunk, as_text
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, SCORING_FIELDS
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.batch_outputs import OUTPUTS, Outcome, Outputs, chunk_bookings, rejected_rows
from data_science.booking_scores import SCORES_KEY, ScoresRun, chunks_of, on_the_books_query, scores_table
from data_science.booking_scores import Outcome as DbOutcome
from data_science.model import CancellationModel

# Internal column names: a file's own columns become c0, c1, ... (a hotel's "Réf. client" or
# "a.b" would otherwise need quoting in every Spark expression) and get their names back on output.
LINE = "__line"
PROBLEM = "__problem"  # why the reader set a line aside (misaligned), else null
REASONS = "__reasons"  # every reason a row is refused, else null
ANSWER = "__answer"
ANSWER_TYPE = f"{BOOKING_ID} string, as_of string, cancel_probability double, will_cancel boolean"
Batches = Iterator[pa.RecordBatch]


def _internal(names: list[str]) -> list[str]:
    return [f"c{i}" for i in range(len(names))]


def _schema(names: list[str], last: str) -> str:
    return ", ".join([f"{LINE} long", *(f"{c} string" for c in _internal(names)), f"{last} string"])


def pyfunc_root(bundle: Path) -> Path:
    """The MLflow model folder (its ``MLmodel``) holding the downloaded ``CancellationModel`` bundle."""
    return next(folder for folder in bundle.parents if (folder / "MLmodel").is_file())


# ------------------------------------------------------------------ reading
def raw_batch(chunk: RawChunk, names: list[str]) -> pa.RecordBatch:
    """A reader's chunk as one batch: its rows, then its misaligned lines with their reason."""
    aside = chunk.misaligned
    columns: list[pa.Array] = [pa.array(np.concatenate([chunk.lines, [m.line for m in aside]]), pa.int64())]
    for name in names:
        text = as_text(chunk.table[name])
        columns.append(pa.concat_arrays([text, pa.array([m.fields[name] for m in aside], pa.string())]))
    columns.append(pa.array([None] * chunk.table.num_rows + [m.reason for m in aside], pa.string()))
    return pa.RecordBatch.from_arrays(columns, [LINE, *_internal(names), PROBLEM])


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
                            [LINE, *_internal(names), PROBLEM],
                        )
        finally:
            engine.dispose()

    return read


# ------------------------------------------------------------------ screening
class _OutsideParam(AccumulatorParam[OutsideVocabulary]):
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
    internal = _internal(names)

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
        for c, name in zip(_internal(names), names, strict=True)
        if name in SCORING_FIELDS and not (as_of is not None and name == AS_OF)
    ]
    if as_of is not None:  # --as-of: one day for every booking, over any as_of column
        fields.append(F.lit(str(as_of)).alias(AS_OF))
    return screened.where(F.col(REASONS).isNull()).withColumn(ANSWER, udf(F.struct(*fields)))


# ------------------------------------------------------------------ predict-batch
def _parts(folder: Path) -> Iterator[pa.Table]:
    """What Spark wrote to ``folder``, in partition order (its part files' names)."""
    for part in sorted(folder.glob("part-*.parquet")):
        for batch in pq.ParquetFile(part).iter_batches():
            yield pa.Table.from_batches([batch])


def predict_file(
    spark: SparkSession,
    input_path: Path,
    output_path: Path,
    *,
    names: list[str],
    model: CancellationModel,
    model_dir: Path,
    as_of: np.datetime64 | None = None,
) -> Outcome:
    """``predict-batch`` with Spark: the same outputs as the default engine's ``run`` (``names``:
    the input's header, read and checked by the caller)."""
    columns = [name for name in names if name not in OUTPUTS]
    internal = dict(zip(names, _internal(names), strict=True))
    broadcast = spark.sparkContext.broadcast(model)
    outside = spark.sparkContext.accumulator(OutsideVocabulary(), _OutsideParam())
    raw = spark.range(0, 1, 1, numPartitions=1).mapInArrow(
        file_reader(input_path, names), _schema(names, PROBLEM)
    )
    spread = raw.repartitionByRange(spark.sparkContext.defaultParallelism, LINE).sortWithinPartitions(LINE)
    screened = spread.mapInArrow(screener(broadcast, names, as_of, outside), _schema(names, REASONS))
    screened = screened.persist(StorageLevel.DISK_ONLY)  # screened once, for both outputs
    work = Path(tempfile.mkdtemp(prefix=f".{output_path.name}.spark-", dir=output_path.parent))
    try:
        answers = scored(spark, screened, names, model_dir, as_of).select(
            LINE,
            *(internal[name] for name in columns),
            F.to_date(F.col(f"{ANSWER}.as_of")).alias(AS_OF),
            F.col(f"{ANSWER}.cancel_probability").alias("cancel_probability"),
            F.col(f"{ANSWER}.will_cancel").cast("long").alias("will_cancel"),
        )
        answers.write.parquet(str(work / "scored"))
        screened.where(F.col(REASONS).isNotNull()).select(
            LINE, *(internal[name] for name in columns), REASONS
        ).write.parquet(str(work / "rejected"))
        outputs = Outputs(output_path, columns)
        scored_names, rejected_names = outputs.scored_schema.names, outputs.rejected_schema.names
        empty_rejected = outputs.rejected_schema.empty_table()
        try:
            for part in _parts(work / "scored"):
                table = part.drop_columns([LINE]).rename_columns(scored_names).cast(outputs.scored_schema)
                outputs.write(table, empty_rejected)
            for part in _parts(work / "rejected"):
                rejected = part.rename_columns(rejected_names).cast(outputs.rejected_schema)
                outputs.write(outputs.scored_schema.empty_table(), rejected)
        except BaseException:
            outputs.abort()
            raise
    finally:
        screened.unpersist()
        broadcast.destroy()
        shutil.rmtree(work, ignore_errors=True)
    outputs.outcome.outside = outside.value
    return outputs.commit()


# ------------------------------------------------------------------ score-db
def storer(job: ScoresRun) -> Callable[[Batches], Batches]:
    """``mapInArrow``: append each batch of answers to ``booking_scores`` (``db.insert_missing``,
    idempotent), yielding what it did: rows scored and added, flagged, the sum of the probabilities."""

    def store(batches: Batches) -> Batches:
        engine = make_engine(job.url)
        try:
            table = scores_table(engine)
            for batch in batches:
                answer = batch.column(0)  # the pyfunc's answer, a struct
                probability = answer.field("cancel_probability").to_numpy(zero_copy_only=False)
                will_cancel = answer.field("will_cancel").to_numpy(zero_copy_only=False).astype(bool)
                booking_id = answer.field(BOOKING_ID).to_numpy(zero_copy_only=False)
                chunk = job.rows(booking_id, probability, will_cancel)
                yield pa.RecordBatch.from_pylist(
                    [
                        {
                            "scored": batch.num_rows,
                            "added": db.insert_missing(engine, table, chunk, SCORES_KEY),
                            "flagged": int(will_cancel.sum()),
                            "probability_sum": float(probability.sum()),
                        }
                    ]
                )
        finally:
            engine.dispose()

    return store


def score_on_the_books(
    spark: SparkSession, job: ScoresRun, model: CancellationModel, model_dir: Path
) -> DbOutcome:
    """``score-db`` with Spark: each core reads a range of ``source_line`` of the bookings on the
    books, screens and scores it, and appends its scores itself (``on_the_books`` and ``invalid``
    are left to the caller, who counted the bookings on the books)."""
    engine = make_engine(job.url)
    try:
        with engine.connect() as conn:
            low, high = conn.execute(
                sa.text("SELECT min(source_line), max(source_line) FROM bookings_raw")
            ).one()
    finally:
        engine.dispose()
    parts = spark.sparkContext.defaultParallelism
    edges = np.unique(np.linspace(int(low or 0), int(high or 0) + 1, parts + 1).astype(np.int64))
    seeds = spark.createDataFrame(
        [(int(a), int(b)) for a, b in itertools.pairwise(edges)], "low long, high long"
    ).repartition(len(edges) - 1)
    names = [*BOOKING_FIELDS, BOOKING_ID]  # what on_the_books_query selects
    day = np.datetime64(job.day, "D")
    broadcast = spark.sparkContext.broadcast(model)
    try:
        raw = seeds.mapInArrow(database_reader(job, names), _schema(names, PROBLEM))
        screened = raw.mapInArrow(screener(broadcast, names, day), _schema(names, REASONS))
        stored = (
            scored(spark, screened, names, model_dir, day)
            .select(ANSWER)
            .mapInArrow(
                storer(job),
                "scored long, added long, flagged long, probability_sum double",
            )
        )
        totals = stored.agg(*(F.sum(c).alias(c) for c in stored.columns)).collect()[0]
    finally:
        broadcast.destroy()
    return DbOutcome(
        scored=int(totals["scored"] or 0),
        added=int(totals["added"] or 0),
        flagged=int(totals["flagged"] or 0),
        probability_sum=float(totals["probability_sum"] or 0.0),
    )

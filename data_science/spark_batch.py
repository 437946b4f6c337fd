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
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812 (Spark's own idiom)

from data_engineering.src import db
from data_engineering.src.engine import make_engine
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.batch_outputs import OUTPUTS, Outcome, Outputs
from data_science.booking_scores import SCORES_KEY, ScoresRun, scores_table
from data_science.booking_scores import Outcome as DbOutcome
from data_science.model import CancellationModel
from data_science.spark_tasks import (
    ANSWER,
    LINE,
    PROBLEM,
    REASONS,
    Batches,
    OutsideParam,
    database_reader,
    file_reader,
    internal_names,
    scored,
    screener,
    task_schema,
)


def pyfunc_root(bundle: Path) -> Path:
    """The MLflow model folder (its ``MLmodel``) holding the downloaded ``CancellationModel`` bundle."""
    return next(folder for folder in bundle.parents if (folder / "MLmodel").is_file())


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
    internal = dict(zip(names, internal_names(names), strict=True))
    broadcast = spark.sparkContext.broadcast(model)
    outside = spark.sparkContext.accumulator(OutsideVocabulary(), OutsideParam())
    raw = spark.range(0, 1, 1, numPartitions=1).mapInArrow(
        file_reader(input_path, names), task_schema(names, PROBLEM)
    )
    spread = raw.repartitionByRange(spark.sparkContext.defaultParallelism, LINE).sortWithinPartitions(LINE)
    screened = spread.mapInArrow(screener(broadcast, names, as_of, outside), task_schema(names, REASONS))
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
        raw = seeds.mapInArrow(database_reader(job, names), task_schema(names, PROBLEM))
        screened = raw.mapInArrow(screener(broadcast, names, day), task_schema(names, REASONS))
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

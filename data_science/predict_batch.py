"""``./cli.sh predict-batch INPUT.csv OUTPUT.csv [--as-of DATE] [--model-uri URI]``: score a file of bookings.

INPUT has the raw dataset's booking columns (plain or gzip); the hotel's ``booking_id``, an
``as_of`` day per booking, the target, the outcome and post-booking columns and columns of the
hotel's own may be present and are passed through untouched. Each booking is judged as of its
``as_of`` (``--as-of`` sets one day for all; default: its booking date, "will it cancel, judged
the day it was made"). OUTPUT keeps every input column of each valid row, in input order, and
adds ``as_of`` (the day it was judged as of), ``cancel_probability`` and ``will_cancel`` (at the
model's threshold). Rows that are invalid, or not on the books as of their day — booked after
it, already arrived, or (when the file has outcome columns, as a historical replay does)
cancelled on or before it — go to ``OUTPUT.rejected.csv`` with their line number and reasons:
nothing is dropped silently.

The file is read, validated, scored and written a chunk at a time, so memory does not grow with
its size; both outputs are written under temporary names and renamed when the whole file is done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_engineering.src.files.parquet import open_bookings
from data_engineering.src.files.records import RawChunk, as_text
from data_engineering.src.files.writing import CsvSink, open_sink
from data_engineering.src.messages import first_line
from data_engineering.src.progress import progress
from data_engineering.src.schema import AS_OF, COLUMNS_BY_NAME, ColumnsError
from data_engineering.src.validate import LINE_COLUMN, REASONS_COLUMN
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.engines import (
    SparkUnavailableError,
    add_engine_arguments,
    check_engine_arguments,
    check_spark,
    spark_session,
)
from data_science.model import Answers, CancellationModel, ModelBundleError, Screened
from data_science.tracking import NoModelError, ResolvedModel, default_model_uri, resolve

OUTPUTS = (AS_OF, "cancel_probability", "will_cancel")  # replaced if the input already had them


@dataclass
class Outcome:
    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    probability_sum: float = 0.0
    outside: OutsideVocabulary = field(default_factory=OutsideVocabulary)  # values the vocabulary lacks


def as_of_date(text: str) -> np.datetime64:
    """A ``--as-of`` argument: a calendar day written YYYY-MM-DD."""
    try:
        return np.datetime64(dt.date.fromisoformat(text), "D")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected.csv")


def chunk_bookings(chunk: RawChunk) -> dict[str, pa.ChunkedArray]:
    """One chunk's well-formed rows as the model reads them: its spec columns, as text."""
    return {name: chunk.table[name] for name in COLUMNS_BY_NAME if name in chunk.table.column_names}


def answer_chunk(chunk: RawChunk, model: CancellationModel, as_of: np.datetime64 | None = None) -> Answers:
    """The model's answers to one chunk's well-formed rows."""
    return model.answer(chunk_bookings(chunk), as_of=as_of)


def rejected_rows(chunk: RawChunk, columns: list[str], answers: Answers | Screened) -> pa.Table:
    """The chunk's refused rows and misaligned lines, in line order: their text and every reason."""
    lines = np.concatenate([chunk.lines[answers.rejected], [m.line for m in chunk.misaligned]]).astype(
        np.int64
    )
    reasons = answers.refusals() + [m.reason for m in chunk.misaligned]
    order = np.argsort(lines, kind="stable")
    taken = pa.array(answers.rejected, pa.int64())
    rejected: dict[str, pa.Array] = {LINE_COLUMN: pa.array(lines[order], pa.int64())}
    for name in columns:
        values = pa.concat_arrays(
            [
                as_text(chunk.table[name]).take(taken),
                pa.array([m.fields[name] for m in chunk.misaligned], pa.string()),
            ]
        )
        rejected[name] = values.take(pa.array(order, pa.int64()))
    rejected[REASONS_COLUMN] = pa.array([reasons[i] for i in order], pa.string())
    return pa.table(rejected)


def score_chunk(
    chunk: RawChunk,
    columns: list[str],
    model: CancellationModel,
    outside: OutsideVocabulary | None = None,
    *,
    as_of: np.datetime64 | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(scored rows, rejected rows) of one chunk; the input text passes through as it was."""
    answers = answer_chunk(chunk, model, as_of)
    if outside is not None:
        outside.add(answers.problems)
    accepted = pa.array(answers.accepted, pa.int64())
    scored = {name: as_text(chunk.table[name]).take(accepted) for name in columns}
    scored[AS_OF] = pa.array(answers.as_of, pa.date32())
    scored["cancel_probability"] = pa.array(answers.probability, pa.float64())
    scored["will_cancel"] = pa.array(answers.will_cancel.astype(np.int64), pa.int64())
    return pa.table(scored), rejected_rows(chunk, columns, answers)


class Outputs:
    """OUTPUT (CSV, or Parquet by its extension) and ``OUTPUT.rejected.csv``, written a table at a
    time and committed together (each renamed into place; no rejected file when none was)."""

    def __init__(self, output_path: Path, columns: list[str]) -> None:
        text = [(name, pa.string()) for name in columns]
        self.scored_schema = pa.schema(
            [*text, (AS_OF, pa.date32()), ("cancel_probability", pa.float64()), ("will_cancel", pa.int64())]
        )
        self.rejected_schema = pa.schema([(LINE_COLUMN, pa.int64()), *text, (REASONS_COLUMN, pa.string())])
        self.path = output_path
        self.scored = open_sink(output_path, self.scored_schema)
        self.rejected = CsvSink(rejected_path(output_path), self.rejected_schema)
        self.outcome = Outcome()

    def write(self, scored: pa.Table, rejected: pa.Table) -> None:
        self.scored.write(scored)
        self.rejected.write(rejected)
        self.outcome.flagged += int(scored["will_cancel"].to_numpy().sum())
        self.outcome.probability_sum += float(scored["cancel_probability"].to_numpy().sum())

    def abort(self) -> None:
        self.scored.abort()
        self.rejected.abort()

    def commit(self) -> Outcome:
        outcome = self.outcome
        self.scored.commit()
        outcome.scored, outcome.rejected = self.scored.rows, self.rejected.rows
        outcome.rows_in = outcome.scored + outcome.rejected
        if outcome.rejected:
            self.rejected.commit()
        else:
            self.rejected.abort()
            rejected_path(self.path).unlink(missing_ok=True)  # no stale rejects from an earlier run
        return outcome


def run(
    input_path: Path,
    output_path: Path,
    model_uri: str | None = None,
    *,
    as_of: np.datetime64 | None = None,
    scoring_engine: str = "python",
    master: str | None = None,
) -> tuple[Outcome, ResolvedModel, float]:
    started = time.perf_counter()
    if scoring_engine == "spark":
        check_spark(master)  # before anything slow: pyspark, Java, the master
        from data_science import spark_batch  # pyspark: an optional dependency

        with open_bookings(input_path, scoring=True) as reader:  # the header checked (and said) here
            names = list(reader.header)
        resolved = resolve(model_uri)
        model = CancellationModel.load(resolved.local_dir)
        with spark_session(master, "predict-batch") as spark:
            outcome = spark_batch.predict_file(
                spark,
                input_path,
                output_path,
                names=names,
                model=model,
                model_dir=spark_batch.pyfunc_root(resolved.local_dir),
                as_of=as_of,
            )
        return outcome, resolved, time.perf_counter() - started
    with open_bookings(input_path, scoring=True) as reader:
        resolved = resolve(model_uri)
        model = CancellationModel.load(resolved.local_dir)
        columns = [c for c in reader.header if c not in OUTPUTS]
        outputs = Outputs(output_path, columns)
        try:
            with progress(total=reader.size, desc="predict-batch", unit="B", unit_scale=True) as bar:
                for chunk in reader:
                    outputs.write(*score_chunk(chunk, columns, model, outputs.outcome.outside, as_of=as_of))
                    bar.set(reader.position)
        except BaseException:
            outputs.abort()
            raise
    return outputs.commit(), resolved, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh predict-batch", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV with the raw dataset's booking columns (or .csv.gz)")
    parser.add_argument("output", type=Path, help="CSV to write (invalid rows go to OUTPUT.rejected.csv)")
    parser.add_argument(
        "--as-of",
        type=as_of_date,
        metavar="YYYY-MM-DD",
        help="judge every booking as of this day (default: each row's as_of, else its booking date)",
    )
    parser.add_argument("--model-uri", help=f"MLflow model URI (default {default_model_uri()})")
    add_engine_arguments(parser)
    ns = parser.parse_args(argv)
    check_engine_arguments(parser, ns)
    if ns.input.resolve() == ns.output.resolve():
        parser.error("OUTPUT must differ from INPUT")
    if not ns.input.is_file():
        print(f"predict-batch: error: {ns.input} does not exist", file=sys.stderr)
        return 1
    try:
        outcome, resolved, seconds = run(
            ns.input,
            ns.output,
            ns.model_uri,
            as_of=ns.as_of,
            scoring_engine=ns.engine,
            master=ns.spark_master,
        )
    except ModelBundleError as exc:  # a model trained with another vocabulary, say: not the input's fault
        print(f"predict-batch: error: {exc}; nothing was written", file=sys.stderr)
        return 1
    except (ColumnsError, ValueError) as exc:
        print(f"predict-batch: error: {ns.input}: {exc}; nothing was written", file=sys.stderr)
        return 1
    except (NoModelError, SparkUnavailableError) as exc:
        print(f"predict-batch: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, say: the outputs are only renamed into place when complete
        print(f"predict-batch: error: {first_line(exc)}; nothing was written to {ns.output}", file=sys.stderr)
        return 1
    label = f"{resolved.name} version {resolved.version}" if resolved.version else resolved.uri
    aliases = f" ({', '.join(resolved.aliases)})" if resolved.aliases else ""
    print(
        f"predict-batch: {outcome.rows_in:,} rows in, {outcome.scored:,} scored -> {ns.output}, "
        f"{outcome.rejected:,} rejected" + (f" -> {rejected_path(ns.output)}" if outcome.rejected else "")
    )
    if outcome.scored:
        print(
            f"predict-batch: {outcome.flagged:,} predicted to cancel ({outcome.flagged / outcome.scored:.1%}), "
            f"mean probability {outcome.probability_sum / outcome.scored:.3f}; model {label}{aliases}; "
            f"{seconds:.1f}s ({outcome.rows_in / max(seconds, 1e-9):,.0f} rows/s)"
        )
    if outcome.outside.rows:
        print(f"predict-batch: warning: {outcome.outside.message(outcome.rows_in)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from pathlib import Path

import numpy as np

from data_engineering.src.files.parquet import open_bookings
from data_engineering.src.messages import first_line
from data_engineering.src.progress import progress
from data_engineering.src.schema import ColumnsError
from data_science.batch_outputs import OUTPUTS, Outcome, Outputs, rejected_path, score_chunk
from data_science.engines import (
    SparkUnavailableError,
    add_engine_arguments,
    check_engine_arguments,
    check_spark,
    spark_session,
)
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.tracking import NoModelError, ResolvedModel, default_model_uri, resolve


def as_of_date(text: str) -> np.datetime64:
    """A ``--as-of`` argument: a calendar day written YYYY-MM-DD."""
    try:
        return np.datetime64(dt.date.fromisoformat(text), "D")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


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

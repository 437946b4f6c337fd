"""``./cli.sh estimate-performance``: the model's figures on bookings without outcomes, estimated
from its probabilities alone (``performance_estimate``), for a file of bookings."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.reader import RawReader
from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.schema import ColumnsError
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.batch_outputs import answer_chunk
from data_science.model import CancellationModel
from data_science.model_bundle import ModelBundleError
from data_science.performance_estimate import estimate
from data_science.predict_batch import as_of_date
from data_science.tracking import NoModelError, default_model_uri, resolve


def main(argv: list[str] | None = None) -> int:
    """``./cli.sh estimate-performance IN.csv [--as-of DATE] [--json OUT.json]``."""

    parser = argparse.ArgumentParser(
        prog="./cli.sh estimate-performance",
        description="The model's figures on bookings without outcomes, estimated from its probabilities.",
    )
    parser.add_argument("input", type=Path, help="CSV of bookings (any file predict-batch takes)")
    parser.add_argument(
        "--as-of", type=as_of_date, metavar="YYYY-MM-DD", help="judge every booking as of this day"
    )
    parser.add_argument("--json", type=Path, help="also write the estimate to this JSON file")
    parser.add_argument("--model-uri", help=f"default {default_model_uri()}")
    ns = parser.parse_args(argv)
    if not ns.input.is_file():
        print(f"estimate-performance: error: {ns.input} does not exist", file=sys.stderr)
        return 1
    probabilities, refused, outside = [], 0, OutsideVocabulary()
    try:
        resolved = resolve(ns.model_uri)
        model = CancellationModel.load(resolved.local_dir)
        with RawReader(ns.input, scoring=True) as reader:
            for chunk in reader:
                answers = answer_chunk(chunk, model, ns.as_of)  # outcome columns are never read as labels
                outside.add(answers.problems)
                probabilities.append(answers.probability)
                refused += len(answers.rejected) + len(chunk.misaligned)
        scored = np.concatenate(probabilities) if probabilities else np.empty(0)
        if not len(scored):
            raise ValueError(
                f"none of its {refused:,} rows could be scored"
                + (
                    f": {outside.message(refused)}"
                    if outside.rows
                    else " (./cli.sh predict-batch lists each row's reasons)"
                )
            )
        result = estimate(scored, model.threshold)
    except (NoModelError, ModelBundleError) as exc:
        print(f"estimate-performance: error: {exc}", file=sys.stderr)
        return 1
    except CsvFormatError as exc:  # it names the file itself
        print(f"estimate-performance: error: {exc}", file=sys.stderr)
        return 1
    except (ColumnsError, ValueError) as exc:
        print(f"estimate-performance: error: {ns.input}: {exc}", file=sys.stderr)
        return 1
    low, high = result.intervals["roc_auc"]
    print(
        f"estimate-performance: {result.rows:,} bookings scored ({refused:,} refused) by {resolved.name} version "
        f"{resolved.version}"
        + (f", as of {ns.as_of}" if ns.as_of is not None else ", each at its booking date")
    )
    for name in ("roc_auc", "cancellation_rate", "precision", "recall"):
        low, high = result.intervals[name]
        print(
            f"  estimated {name.replace('_', ' ')}: {getattr(result, name):.4f} (95% sampling interval {low:.4f}-{high:.4f})"
        )
    print(f"  (precision and recall at the model's threshold {result.threshold:.3f})")
    if ns.json:
        write_atomic(ns.json, (json.dumps(result.as_dict(), indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

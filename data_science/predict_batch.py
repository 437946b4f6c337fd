"""``./cli.sh predict-batch INPUT.csv OUTPUT.csv [--model-uri URI]``: score a file of bookings.

INPUT has the raw dataset's columns; the target and the outcome/post-booking columns may be
present and are ignored. OUTPUT keeps every input column of each valid row, in input order, and
adds ``cancel_probability`` and ``will_cancel`` (at the model's threshold). Invalid rows go to
``OUTPUT.rejected.csv`` with their line number and reasons: nothing is dropped silently.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data_engineering.src.io import read_raw, write_atomic
from data_engineering.src.schema import ColumnsError
from data_engineering.src.validate import FIELDS_COLUMN, LINE_COLUMN, REASONS_COLUMN, validate_raw
from data_science.model import CancellationModel
from data_science.tracking import NoModelError, ResolvedModel, default_model_uri, resolve


@dataclass
class Scored:
    scored: pd.DataFrame
    rejected: pd.DataFrame


def score(raw: pd.DataFrame, model: CancellationModel) -> Scored:
    """Validate and score raw text rows (as ``read_raw`` returns them)."""
    result = validate_raw(raw, scoring=True)
    probability = model.predict_frame(result.valid)
    kept = raw.set_index(LINE_COLUMN).loc[result.valid[LINE_COLUMN]].reset_index()
    scored = kept.drop(columns=[FIELDS_COLUMN, "cancel_probability", "will_cancel"], errors="ignore")
    scored["cancel_probability"] = probability
    scored["will_cancel"] = (probability >= model.threshold).astype(int)
    rejected = raw.set_index(LINE_COLUMN).loc[result.rejected[LINE_COLUMN]].reset_index()
    rejected = rejected.drop(columns=[FIELDS_COLUMN], errors="ignore")
    rejected[REASONS_COLUMN] = result.rejected[REASONS_COLUMN].to_numpy()
    return Scored(scored, rejected)


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected.csv")


def _write(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, frame.to_csv(index=False).encode())


def run(
    input_path: Path, output_path: Path, model_uri: str | None = None
) -> tuple[Scored, ResolvedModel, float]:
    started = time.perf_counter()
    raw = read_raw(input_path, scoring=True)
    resolved = resolve(model_uri)
    model = CancellationModel.load(resolved.local_dir)
    result = score(raw, model)
    outputs = ("cancel_probability", "will_cancel")  # replaced if the input already had them
    columns = [c for c in raw.columns if c not in (LINE_COLUMN, FIELDS_COLUMN, *outputs)]
    _write(result.scored[[*columns, *outputs]], output_path)
    reject_file = rejected_path(output_path)
    if len(result.rejected):
        _write(result.rejected[[LINE_COLUMN, *columns, REASONS_COLUMN]], reject_file)
    else:
        reject_file.unlink(missing_ok=True)  # no stale rejects from an earlier run
    return result, resolved, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh predict-batch", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV with the raw dataset's columns")
    parser.add_argument("output", type=Path, help="CSV to write (invalid rows go to OUTPUT.rejected.csv)")
    parser.add_argument("--model-uri", help=f"MLflow model URI (default {default_model_uri()})")
    ns = parser.parse_args(argv)
    if ns.input.resolve() == ns.output.resolve():
        parser.error("OUTPUT must differ from INPUT")
    if not ns.input.is_file():
        print(f"predict-batch: error: {ns.input} does not exist", file=sys.stderr)
        return 1
    try:
        result, resolved, seconds = run(ns.input, ns.output, ns.model_uri)
    except ColumnsError as exc:
        print(f"predict-batch: error: {ns.input}: {exc}; nothing was written", file=sys.stderr)
        return 1
    except NoModelError as exc:
        print(f"predict-batch: error: {exc}", file=sys.stderr)
        return 1
    scored, rejected = len(result.scored), len(result.rejected)
    flagged = int(result.scored["will_cancel"].sum())
    label = f"{resolved.name} version {resolved.version}" if resolved.version else resolved.uri
    aliases = f" ({', '.join(resolved.aliases)})" if resolved.aliases else ""
    print(
        f"predict-batch: {scored + rejected:,} rows in, {scored:,} scored -> {ns.output}, "
        f"{rejected:,} rejected" + (f" -> {rejected_path(ns.output)}" if rejected else "")
    )
    if scored:
        print(
            f"predict-batch: {flagged:,} predicted to cancel ({flagged / scored:.1%}), mean probability "
            f"{result.scored['cancel_probability'].mean():.3f}; model {label}{aliases}; {seconds:.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

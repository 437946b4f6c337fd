"""``./cli.sh tune [--trials N] [--timeout S] [--write]``: search the booster's settings (Optuna).

Each trial is a rolling-origin backtest of the whole pipeline (the number of trees chosen from
the fold curves, as ``train`` chooses it) scored by its mean fold ROC AUC. The search sees only
arrivals *before the reported backtest's last fold* — it is nested: the pipeline's own backtest
then judges the winner partly on months the search never looked at. Seeded (TPE, seed 42), bounded
by ``--trials`` and ``--timeout``; trial 0 is the current ``params.yaml``, the bar to beat.
``--write`` puts the winner into ``params.yaml`` (the comments stay), and ``dvc repro`` reruns
what depends on it. Not a DVC stage: choosing settings on every run, on the folds it reports,
would make the headline figure optimistic and the pipeline irreproducible.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.files.atomic import write_atomic
from data_engineering.src.files.writing import read_processed
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.paths import PARAMS_FILE, processed_file
from data_engineering.transformation import get_transformation
from data_science.backtest.folds import make_folds
from data_science.backtest.params import BacktestParams, TrainParams
from data_science.train import backtest_pipeline

SEARCHED = ("learning_rate", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "reg_lambda")


def suggest(trial: Any) -> dict[str, Any]:
    learning_rate = trial.suggest_float("learning_rate", 0.02, 0.15, log=True)
    return {
        "learning_rate": learning_rate,
        "max_depth": trial.suggest_int("max_depth", 3, 8),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 30.0, log=True),
        # Slower learning needs more trees; the backtest picks how many of them to keep.
        "max_trees": int(np.clip(round(25 / learning_rate / 25) * 25, 200, 1000)),
    }


def write_params(values: dict[str, Any]) -> None:
    """Replace the searched keys' values in params.yaml's ``train`` section, comments kept."""
    lines = PARAMS_FILE.read_text().splitlines(keepends=True)
    in_train = False
    for i, line in enumerate(lines):
        if re.match(r"^\S", line):
            in_train = line.startswith("train:")
            continue
        match = re.match(r"^(  )(\w+):(\s*)([^#\n]*?)(\s*#.*)?$", line.rstrip("\n"))
        if in_train and match and match.group(2) in values:
            value = values[match.group(2)]
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            comment = match.group(5) or ""
            lines[i] = f"{match.group(1)}{match.group(2)}: {shown}{comment}\n"
    write_atomic(PARAMS_FILE, "".join(lines).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh tune", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="most trials (default 30)")
    parser.add_argument("--timeout", type=float, default=900, help="most seconds (default 900)")
    parser.add_argument("--folds", type=int, default=3, help="backtest folds per trial (default 3)")
    parser.add_argument("--write", action="store_true", help="write the winner into params.yaml")
    ns = parser.parse_args(argv)
    import optuna

    backtest = read_section("backtest", BacktestParams)
    base = read_section("train", TrainParams)
    version = read_section("transform", TransformParams).version
    transformation = get_transformation(version)
    frame = read_processed(version, processed_file(version))
    last_fold = make_folds(frame["arrival_date"], backtest)[-1]
    seen = frame[pd.to_datetime(frame["arrival_date"]) < last_fold.start].reset_index(drop=True)
    folds = BacktestParams(folds=ns.folds, fold_months=backtest.fold_months)
    print(
        f"tune: {len(seen):,} bookings arriving before {last_fold.start.date()} (the reported backtest's last "
        f"fold stays unseen), {ns.folds} folds per trial, at most {ns.trials} trials / {ns.timeout:.0f}s"
    )

    def objective(trial: Any) -> float:
        started = time.perf_counter()
        params = base.model_copy(update=suggest(trial))
        _, later, chosen = backtest_pipeline(seen, transformation, folds, params)
        means = chosen.backtest().means
        trial.set_user_attr("n_trees", later.n_trees)
        # Both questions count: at booking, and on the books (equal to the first for a one-question model).
        value = (means["roc_auc_mean"] + means["roc_auc_on_the_books_mean"]) / 2
        print(
            f"tune: trial {trial.number}: ROC AUC mean at booking and on the books {value:.4f}, {later.n_trees} trees, "
            f"{ {k: round(v, 4) if isinstance(v, float) else v for k, v in trial.params.items()} } "
            f"({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=42, n_startup_trials=8)
    )
    study.enqueue_trial({k: getattr(base, k) for k in SEARCHED})
    study.optimize(objective, n_trials=ns.trials, timeout=ns.timeout)
    best = study.best_trial
    winner = suggest(optuna.trial.FixedTrial(best.params))
    print(
        f"tune: best of {len(study.trials)} trials: ROC AUC mean {best.value:.4f} "
        f"(current params.yaml: {study.trials[0].value:.4f}); {winner}"
    )
    if ns.write:
        write_params(winner)
        print(
            f"tune: wrote them into {PARAMS_FILE.name} (train section); ./cli.sh dvc-init-pipeline retrains"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

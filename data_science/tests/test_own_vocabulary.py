"""A hotel group's own vocabulary: the model records the one it was trained with, serving refuses
another, and the whole pipeline runs on bookings whose hotels and room codes are not the public
dataset's (``./cli.sh vocabulary`` -> ``HOTEL_VOCABULARY`` -> ingest, train, predict)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from data_engineering.src.schema import VOCABULARIES, VOCABULARY, load_vocabulary
from data_engineering.src.synthetic import OTHER_HOTEL_GROUP, make_bookings, write_bookings
from data_engineering.src.validate import validate
from data_engineering.transformation import get_transformation
from data_science import champion_gate
from data_science.backtest.folds import fit_booster
from data_science.backtest.params import TrainParams
from data_science.model import CancellationModel
from data_science.model_bundle import VOCABULARY_NAME, VocabularyMismatchError
from data_science.tracking import CHAMPION, ResolvedModel
from data_science.train import check_vocabulary

# The hotel group's categories: every value the generator writes, renamed.
OTHER = {name: tuple(sorted(set(OTHER_HOTEL_GROUP[name].values()))) for name in VOCABULARIES}


@pytest.fixture(scope="module")
def processed() -> pd.DataFrame:
    frame = make_bookings(400, seed=3)
    validated = validate({c: pa.array(frame[c].tolist(), pa.string()) for c in frame.columns})
    columns = get_transformation("v3").transform({**validated.columns, "booking_id": np.arange(400)})
    return pd.DataFrame(columns).assign(arrival_date=lambda d: pd.to_datetime(d["arrival_date"]))


@pytest.fixture(scope="module")
def small_model(processed: pd.DataFrame) -> CancellationModel:
    params = TrainParams(max_trees=5, checkpoint_every=5)
    cutoff = processed["arrival_date"].max() + pd.Timedelta(days=1)
    encoder, booster, _ = fit_booster(processed, get_transformation("v3"), params, cutoff, 5)
    return CancellationModel(booster, encoder, transformation="v3")


def test_the_model_records_the_vocabulary_in_use(small_model: CancellationModel, tmp_path: Path) -> None:
    small_model.save(tmp_path / "model")
    written = yaml.safe_load((tmp_path / "model" / VOCABULARY_NAME).read_text())
    assert written == {name: sorted(VOCABULARY[name]) for name in VOCABULARIES}
    assert CancellationModel.load(tmp_path / "model").vocabulary_differences() == []


def test_a_model_of_another_vocabulary_is_refused_naming_both(
    small_model: CancellationModel, tmp_path: Path
) -> None:
    other = CancellationModel(
        small_model.booster,
        small_model.encoder,
        transformation="v3",
        metadata={"vocabulary": {"file": "/srv/harbour/vocabulary.yaml", "sha256": "0" * 64}},
        vocabulary=OTHER,
    )
    other.save(tmp_path / "model")
    with pytest.raises(VocabularyMismatchError) as error:
        CancellationModel.load(tmp_path / "model")
    message = str(error.value)
    assert "hotel Alpine Lodge, Harbour Inn in the model, City Hotel, Resort Hotel in use" in message
    assert "(and 6 more vocabularies differ)" in message
    assert "HOTEL_VOCABULARY" in message
    assert "/srv/harbour/vocabulary.yaml" in message
    # The gate reads it anyway, to tell it apart.
    loaded = CancellationModel.load(tmp_path / "model", check_vocabulary=False)
    assert loaded.vocabulary == OTHER
    assert loaded.vocabulary_differences() == list(VOCABULARIES)


def test_a_champion_of_another_vocabulary_is_replaced(
    small_model: CancellationModel, processed: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    CancellationModel(small_model.booster, small_model.encoder, transformation="v3", vocabulary=OTHER).save(
        tmp_path / "champion"
    )
    champion = ResolvedModel("models:/m@champion", "m", "1", ("champion",), None, tmp_path / "champion", {})
    monkeypatch.setattr(champion_gate, "resolve", lambda uri: champion)
    report = {"backtest": {"roc_auc_mean": 0.5, "folds": []}}
    decision = champion_gate.gate(report, processed, processed.iloc[:0], "2")
    assert decision.alias == CHAMPION
    assert decision.basis == "other vocabulary"
    assert "version 1 was trained with another vocabulary" in decision.text


def test_training_refuses_bookings_outside_the_vocabulary_in_use(processed: pd.DataFrame) -> None:
    check_vocabulary(processed)  # validated with this vocabulary: fine
    renamed = processed.assign(hotel=processed["hotel"].replace(OTHER_HOTEL_GROUP["hotel"]))
    with pytest.raises(ValueError, match="hotel holds 'Alpine Lodge', 'Harbour Inn', not in the vocabulary"):
        check_vocabulary(renamed)


# --------------------------------------------------------------------------- end to end


def _small_pipeline(repo: Path) -> None:
    """Few trees and two folds: the point is the vocabulary's way through, not the model."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["backtest"] = {"folds": 2, "fold_months": 3}
    params["train"].update(max_trees=40, checkpoint_every=20)
    params["baselines"]["plain_xgboost"]["n_estimators"] = 30
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_other_hotels_ingest_train_and_predict(repo_copy: Path, repo_cli, tmp_path: Path) -> None:
    _small_pipeline(repo_copy)
    export = write_bookings(tmp_path / "export.csv.gz", 3000, seed=31, renamed=OTHER_HOTEL_GROUP)
    source = {"HOTEL_BOOKINGS_SOURCE": str(export)}

    # With the public vocabulary nothing is valid: the run stops and says what to do.
    refused = repo_cli(repo_copy, "dvc-init-pipeline", env=source)
    assert refused.returncode == 1
    assert "none of the 3,000 rows is valid" in refused.stderr
    assert "'Harbour Inn'" in refused.stderr
    assert "./cli.sh vocabulary" in refused.stderr

    derived = repo_cli(repo_copy, "vocabulary", str(export), "--write", "harbour_vocabulary.yaml")
    assert derived.returncode == 0, derived.stderr
    vocabulary = {"HOTEL_VOCABULARY": "harbour_vocabulary.yaml"}  # relative: from the caller's folder
    assert yaml.safe_load((repo_copy / "harbour_vocabulary.yaml").read_text()) == {
        name: list(values) for name, values in OTHER.items()
    }

    trained = repo_cli(repo_copy, "dvc-init-pipeline", env=source | vocabulary)
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-4000:]
    assert "3,000 rows in, 3,000 loaded, 0 rejected" in trained.stdout
    assert "registered hotel-cancellation version 1 as champion" in trained.stdout
    assert "\r" not in log  # not a terminal: progress as lines, never a redrawn bar
    model_dir = repo_copy / "models" / "model"
    recorded = yaml.safe_load((model_dir / VOCABULARY_NAME).read_text())
    assert recorded == {name: list(values) for name, values in OTHER.items()}
    encoder = (model_dir / "encoder.json").read_text()
    assert "Harbour Inn" in encoder
    assert "Walk-in" in encoder
    # The registered pyfunc's own column spec defaults to it: served alone, it needs no variable.
    bundled = [
        *repo_copy.glob("mlartifacts/**/code/data_engineering/vocabulary.yaml"),
        *repo_copy.glob(f"mlartifacts/**/artifacts/model/{VOCABULARY_NAME}"),
    ]
    assert len(bundled) == 2
    assert all(load_vocabulary(path) == OTHER for path in bundled)

    bookings = make_bookings(300, seed=32, renamed=OTHER_HOTEL_GROUP).drop(columns=["is_canceled"])
    new = tmp_path / "new.csv.gz"
    with gzip.open(new, "wt", newline="") as out:
        bookings.to_csv(out, index=False)
    scored = repo_cli(repo_copy, "predict-batch", str(new), str(tmp_path / "scored.csv"), env=vocabulary)
    assert scored.returncode == 0, scored.stderr
    assert "300 rows in, 300 scored" in scored.stdout
    assert "\r" not in scored.stdout + scored.stderr
    probabilities = pd.read_csv(tmp_path / "scored.csv")["cancel_probability"]
    assert probabilities.between(0, 1).all()
    assert probabilities.nunique() > 10

    # Without it the champion (trained on the group's vocabulary) refuses to score, and says why.
    unset = repo_cli(repo_copy, "predict-batch", str(new), str(tmp_path / "again.csv"))
    assert unset.returncode == 1
    assert "trained with another vocabulary" in unset.stderr
    assert "HOTEL_VOCABULARY" in unset.stderr
    assert "harbour_vocabulary.yaml" in unset.stderr
    assert not (tmp_path / "again.csv").exists()

"""The trained model as one object: transformation + encoder + booster + calibration + threshold.

``CancellationModel.answer`` is the only code that turns bookings into answers: the API,
``predict-batch``, ``score-db``, the forecast, the MLflow pyfunc and the benchmarks all call it,
so they accept, refuse and score exactly alike. One booking is a batch of one:

    validated   = validate(bookings)                   (data_engineering.src.validate: refused rows
                                                        come back with every reason)
    features    = transformation(validated, as_of)     (data_engineering.transformation)
    margin      = booster(encoder(features))           (raw log-odds)
    probability = sigmoid(a * margin + b)              (Platt calibration, data_science.calibration)
    will_cancel = probability >= threshold
    reasons     = the largest exact TreeSHAP terms, in words (data_science.explain)

The question is P(the booking is cancelled after day T | it is still on the books at T), for any
T from its booking date to the day before arrival (``as_of``; default: the booking date, "will
this booking cancel, judged the day it is made"). A model of a transformation without as-of
features (v2, v3) answers only that default question and refuses any other day.

An as-of model has two heads: ``at_booking``, today's creation-time pipeline (its own booster,
categories and calibration, trained on every booking at its booking date), answers for T = the
booking date, so the answer a booking gets when it is made is exactly the one it got before the
as-of question existed; the model's own booster, trained on the snapshots of bookings on the books
(``data_science/snapshots.py``), answers for every later day. Which head answered is invisible to
callers: one object, one ``answer``.
``predict`` is the same path from already validated and typed columns (training data read back
from the processed file), used by evaluation and the champion gate.

The model also records the vocabulary (``data_engineering/vocabulary.yaml`` or the file
``HOTEL_VOCABULARY`` names) its training bookings were validated with, as ``vocabulary.yaml`` in
its folder: its encoder knows only those categories, so bookings checked against another
vocabulary would be refused (its hotels are not in it) or scored with every category "unseen".
``load`` refuses a model whose vocabulary is not the one in use, naming both; the MLflow pyfunc
carries the model's as its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from data_engineering.src.field_values import ColumnInput
from data_engineering.src.schema import (
    AS_OF,
    BOOKING_ID,
    VOCABULARIES,
    VOCABULARY,
    VOCABULARY_ENV,
    vocabulary_in_use,
)
from data_engineering.transformation import get_transformation
from data_engineering.transformation.encoding import FeatureEncoder
from data_engineering.transformation.v1 import Columns
from data_science import explain
from data_science.answers import Answers, Predictions, Screened
from data_science.calibration import Calibration, calibrate, decide
from data_science.model_bundle import (
    AT_BOOKING_DIR,
    VOCABULARY_NAME,
    ModelBundleError,
    VocabularyMismatchError,
    read_bundle,
    write_bundle,
)
from data_science.screening import screen
from data_science.treeshap import TreeExplainer
from data_science.treeshap_tables import UnsupportedBoosterError

SHOWN_VALUES = 5  # per side, in the message of a vocabulary mismatch


@dataclass
class CancellationModel:
    booster: xgb.Booster
    encoder: FeatureEncoder
    threshold: float = 0.5
    calibration: Calibration = (1.0, 0.0)
    transformation: str = "v2"
    metadata: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    # Vocabulary name -> categories: by default the column spec's, which validated the training rows.
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(VOCABULARY))
    # The creation-time head of an as-of model: answers for T = the booking date (see the docstring).
    at_booking: CancellationModel | None = None
    _explainer: TreeExplainer | None = field(default=None, init=False, repr=False)
    _too_deep_for_tables: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._transform = get_transformation(self.transformation).transform
        trained_on = self.booster.feature_names
        # The booster keeps the feature names it was trained on: they must be the encoder's
        # columns, in order, or every prediction would read the wrong feature.
        if trained_on is not None and list(trained_on) != self.encoder.feature_names:
            raise ModelBundleError(
                f"the booster was trained on {list(trained_on)}, the encoder makes {self.encoder.feature_names}"
            )

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    @property
    def answers_as_of(self) -> bool:
        """Whether the model can judge a booking as of a day after its booking date."""
        return get_transformation(self.transformation).as_of

    # ------------------------------------------------------------------ scoring
    def answer(
        self,
        bookings: Mapping[str, ColumnInput],
        *,
        as_of: np.datetime64 | str | None = None,
        reasons: int = 0,
    ) -> Answers:
        """Validate, transform, score, calibrate, decide and (``reasons`` > 0) explain bookings.

        ``bookings`` maps field names to columns (pyarrow text, numpy arrays or lists of JSON
        values): the booking fields, and optionally ``booking_id``, ``as_of`` and the outcome
        columns (a historical replay: a booking cancelled on or before its ``as_of`` is not on
        the books and is refused). ``as_of`` sets the day for every booking, over any column.
        """
        screened = self.screen(bookings, as_of=as_of)
        scores = self.predict(screened.columns, reasons=reasons > 0)
        features = scores.features
        explained = None
        if scores.contributions is not None:
            head = (
                scores.at_booking
                if scores.at_booking is not None
                else np.zeros(len(scores.margin), dtype=bool)
            )
            explained = [
                explain.reasons(
                    features,
                    i,
                    scores.contributions[i],
                    float(scores.margin[i]),
                    calibration=self.at_booking.calibration
                    if head[i] and self.at_booking is not None
                    else self.calibration,
                    feature_names=self.feature_names,
                    top=reasons,
                )
                for i in range(len(scores.probability))
            ]
        size = len(scores.probability)
        ids = features.get(BOOKING_ID)
        days = features.get(AS_OF)
        if days is None or self.answers_as_of is False:
            days = np.asarray(features["booking_date"], dtype="datetime64[D]")
        return Answers(
            accepted=screened.accepted,
            rejected=screened.rejected,
            problems=screened.problems,
            booking_id=ids if ids is not None else np.full(size, None, dtype=object),
            as_of=np.asarray(days, dtype="datetime64[D]"),
            probability=scores.probability,
            will_cancel=self.decisions(scores.probability),
            threshold=self.threshold,
            features=features,
            reasons=explained,
        )

    def screen(
        self, bookings: Mapping[str, ColumnInput], *, as_of: np.datetime64 | str | None = None
    ) -> Screened:
        """``answer``'s validation alone: the bookings it would score and those it refuses, with
        every reason (a batch engine screens rows apart from scoring them: ``data_science.spark_batch``)."""
        return screen(bookings, as_of=as_of, transformation=self.transformation)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        return calibrate(margin, self.calibration)

    def predict(self, bookings: Columns, *, reasons: bool = False) -> Predictions:
        """Score validated bookings (columns); ``reasons`` adds per-feature contributions.

        With an ``at_booking`` head, rows judged as of their booking date go to it, the others to
        this model's booster; contributions come back in this model's feature order either way.
        """
        features = self._transform(bookings)
        if self.at_booking is None:
            probability, margin, contributions = self._score(features, reasons)
            return Predictions(probability, margin, features, contributions)
        booked = np.asarray(features["days_since_booking"]) == 0
        n, width = len(booked), len(self.feature_names) + 1
        probability, margin = np.empty(n), np.empty(n)
        contributions = np.zeros((n, width)) if reasons else None
        for head, rows in ((self.at_booking, booked), (self, ~booked)):
            if not rows.any():
                continue
            p, m, c = head._score({name: values[rows] for name, values in features.items()}, reasons)
            probability[rows], margin[rows] = p, m
            if contributions is not None and c is not None:
                contributions[np.ix_(rows, self._columns_of(head))] = c
        return Predictions(probability, margin, features, contributions, booked)

    def _score(self, features: Columns, reasons: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(probabilities, margins, contributions) of this head's booster on transformed bookings."""
        matrix = self.encoder.encode(features)
        if not len(matrix):
            empty = np.empty(0, dtype=np.float64)
            return empty, empty, np.empty((0, matrix.shape[1] + 1)) if reasons else None
        margin = self.booster.inplace_predict(matrix, predict_type="margin", validate_features=False)
        return self.calibrate(margin), margin, self.contributions(matrix) if reasons else None

    def _columns_of(self, head: CancellationModel) -> np.ndarray:
        """Where ``head``'s features and bias sit among this model's (its features are a subset)."""
        position = {name: j for j, name in enumerate(self.feature_names)}
        return np.array([position[name] for name in head.feature_names] + [len(self.feature_names)])

    def heads(self) -> list[CancellationModel]:
        """This model and its at-booking head, if any."""
        return [self] if self.at_booking is None else [self, self.at_booking]

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions of encoded rows (the bias last).

        From precomputed tables (``data_science.treeshap``), several times cheaper than
        XGBoost's own walk; boosters too deep for the tables use XGBoost's ``pred_contribs``.
        """
        explainer = self.explainer()
        if explainer is not None:
            return explainer.contributions(matrix)
        data = xgb.DMatrix(matrix, nthread=1 if len(matrix) < 1_000 else -1)
        return self.booster.predict(data, pred_contribs=True, validate_features=False)

    def explainer(self) -> TreeExplainer | None:
        """The contribution tables, built on first use (about a second for the champion)."""
        if self._explainer is None and not self._too_deep_for_tables:
            try:
                self._explainer = TreeExplainer(self.booster)
            except UnsupportedBoosterError:
                self._too_deep_for_tables = True
        return self._explainer

    def decisions(self, probability: np.ndarray) -> np.ndarray:
        """True where the booking is predicted to cancel (probability >= the model's threshold)."""
        return decide(probability, self.threshold)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """The model's files in ``directory`` (``model_bundle``), its at-booking head in a folder of its own."""
        write_bundle(self, directory)
        if self.at_booking is not None:
            self.at_booking.save(directory / AT_BOOKING_DIR)

    @classmethod
    def load(
        cls, directory: Path, *, nthread: int | None = None, check_vocabulary: bool = True
    ) -> CancellationModel:
        """The model saved in ``directory``; unless told not to, refuses one trained with another
        vocabulary than the one in use (``VocabularyMismatchError``, saying which file to use)."""
        parts = read_bundle(directory, nthread=nthread)
        model = cls(
            **parts,
            at_booking=cls.load(directory / AT_BOOKING_DIR, nthread=nthread, check_vocabulary=False)
            if (directory / AT_BOOKING_DIR).is_dir()
            else None,
        )
        if check_vocabulary:
            model.check_vocabulary()
        return model

    # ------------------------------------------------------------------ vocabulary
    def vocabulary_differences(self) -> list[str]:
        """The vocabularies whose categories differ from the ones in use (order does not matter)."""
        return [name for name in VOCABULARIES if set(self.vocabulary[name]) != set(VOCABULARY[name])]

    def check_vocabulary(self) -> None:
        """Raise ``VocabularyMismatchError`` unless bookings here are validated with the training vocabulary.

        A hotel name or room code the model never saw would be refused by the validator, or let
        through and scored as an unseen category: either way every prediction would be wrong.
        """
        differences = self.vocabulary_differences()
        if not differences:
            return
        name = differences[0]
        others = f" (and {len(differences) - 1} more vocabularies differ)" if len(differences) > 1 else ""
        trained_with = self.metadata.get("vocabulary", {}).get("file", "its vocabulary.yaml")
        raise VocabularyMismatchError(
            f"the model was trained with another vocabulary than the one in use, {vocabulary_in_use()}: "
            f"{name} {_values(self.vocabulary[name])} in the model, {_values(VOCABULARY[name])} in use"
            f"{others}. Set {VOCABULARY_ENV} to the file it was trained with ({trained_with}; the model "
            f"carries a copy: {VOCABULARY_NAME} in models/model/ after training, and among the "
            "registered model's artifacts)"
        )


def _values(values: tuple[str, ...]) -> str:
    shown = sorted(values)[:SHOWN_VALUES]
    more = f" and {len(values) - SHOWN_VALUES} more" if len(values) > SHOWN_VALUES else ""
    return ", ".join(shown) + more

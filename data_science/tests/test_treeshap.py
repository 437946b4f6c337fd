"""The contribution tables give XGBoost's own exact TreeSHAP values, for every kind of split."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from data_science.treeshap import TreeExplainer
from data_science.treeshap_tables import MAX_PATH_TESTS, UnsupportedBoosterError


def _data(n: int = 3_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Numeric and categorical columns, some missing, with an outcome that uses both."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 4)).astype(np.float32)
    numeric[rng.random((n, 4)) < 0.1] = np.nan
    small = rng.integers(0, 3, n).astype(np.float32)  # few categories: one-hot-like splits
    large = rng.integers(0, 40, n).astype(np.float32)  # many: partition splits
    large[rng.random(n) < 0.05] = np.nan
    x = np.column_stack([numeric, small, large])
    logit = (
        np.nan_to_num(numeric[:, 0]) * 1.5
        - np.nan_to_num(numeric[:, 1])
        + (small == 1)
        + (large % 7 == 0) * 2
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, y, ["q", "q", "q", "q", "c", "c"]


def _fit(
    objective: str = "binary:logistic", *, rounds: int = 60, **params
) -> tuple[xgb.Booster, xgb.DMatrix, np.ndarray]:
    x, y, types = _data()
    data = xgb.DMatrix(x, y, feature_types=types, enable_categorical=True)
    settings = {
        "objective": objective,
        "max_depth": 4,
        "eta": 0.3,
        "max_cat_to_onehot": 1,
        "seed": 1,
        **params,
    }
    return xgb.train(settings, data, num_boost_round=rounds), data, x


def _assert_matches_xgboost(booster: xgb.Booster, data: xgb.DMatrix, x: np.ndarray) -> None:
    ours = TreeExplainer(booster).contributions(x)
    theirs = booster.predict(data, pred_contribs=True)
    # XGBoost sums in float32: agreement to its rounding, not to ours.
    np.testing.assert_allclose(ours, theirs, atol=2e-5, rtol=1e-5)
    margin = booster.predict(data, output_margin=True)
    np.testing.assert_allclose(ours.sum(axis=1), margin, atol=5e-5)


def test_numeric_categorical_and_missing_values_match_xgboost() -> None:
    booster, data, x = _fit()
    _assert_matches_xgboost(booster, data, x)


def test_features_repeated_along_a_path_match_xgboost() -> None:
    # Deep trees over six features: most paths test a feature more than once.
    booster, data, x = _fit(max_depth=MAX_PATH_TESTS, rounds=15)
    assert max(len(path) for path in _paths_of(booster)) == MAX_PATH_TESTS
    _assert_matches_xgboost(booster, data, x)


def test_a_regression_booster_and_single_leaf_trees_match_xgboost() -> None:
    # min_split_loss so high that late trees cannot split: they are single leaves.
    booster, data, x = _fit("reg:squarederror", rounds=30, min_split_loss=40.0)
    assert any(path == [] for path in _paths_of(booster))
    _assert_matches_xgboost(booster, data, x)


def test_one_row_is_a_batch_of_one() -> None:
    booster, _, x = _fit()
    explainer = TreeExplainer(booster)
    batch = explainer.contributions(x[:50])
    alone = np.vstack([explainer.contributions(x[i : i + 1]) for i in range(50)])
    np.testing.assert_array_equal(alone, batch)
    assert explainer.contributions(x[:0]).shape == (0, x.shape[1] + 1)


def test_trees_too_deep_for_the_tables_are_refused() -> None:
    booster, _, _ = _fit(max_depth=MAX_PATH_TESTS + 2, rounds=3, min_child_weight=0)
    if max(len(path) for path in _paths_of(booster)) <= MAX_PATH_TESTS:
        pytest.fail("the booster did not grow past the tables' depth: the test would prove nothing")
    with pytest.raises(UnsupportedBoosterError, match="too deep"):
        TreeExplainer(booster)


def test_multiclass_boosters_are_refused() -> None:
    x, y, types = _data()
    data = xgb.DMatrix(x, (y + (x[:, 4] == 2)).astype(int), feature_types=types, enable_categorical=True)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, data, num_boost_round=2)
    with pytest.raises(UnsupportedBoosterError, match="multi-class"):
        TreeExplainer(booster)


def _paths_of(booster: xgb.Booster) -> list[list[int]]:
    """Every leaf's root path (node ids) in every tree."""
    import json

    paths = []
    for tree in json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
        left, right = tree["left_children"], tree["right_children"]
        stack: list[tuple[int, list[int]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if left[node] == -1:
                paths.append(path)
            else:
                stack += [(left[node], [*path, node]), (right[node], [*path, node])]
    return paths

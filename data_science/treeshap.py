"""Exact TreeSHAP contributions for a fitted booster, vectorised over bookings.

Why not ``Booster.predict(pred_contribs=True)``: XGBoost walks every tree's paths for every
booking, which for the champion (hundreds of depth-4 trees) costs milliseconds per booking,
more than everything else the API does for a prediction. The same numbers can be had from a
table lookup, because a tree's path-dependent TreeSHAP values (Lundberg et al., 2020, Algorithm 2,
which is what XGBoost computes) only depend on *which* of a leaf's path conditions a booking meets.

For a leaf with value ``v`` whose root path tests ``k`` distinct features, feature ``j`` has
a "one" fraction ``a_j`` (1 when the booking meets every test on ``j`` along the path, else 0)
and a "zero" fraction ``r_j`` (the product of the path's cover ratios child/parent at tests on
``j``). The leaf's part of the tree's expected value, seen as a game over the path's features,
is ``f(S) = v * prod_{j in S} a_j * prod_{j not in S} r_j``; its Shapley value for feature ``i``
is

    phi_i = v * (a_i - r_i) * sum_{S ⊆ P \\ {i}} |S|! (k - |S| - 1)! / k!
                                * prod_{j in S} a_j * prod_{j in P \\ S \\ {i}} r_j

and the tree's contribution is the sum over its leaves (repeated features on a path are merged
as above, which is how XGBoost "unwinds" them). ``a`` is a bit mask of ``k`` bits, so every
leaf gets a table of its ``2**k`` possible contribution vectors once, at load; scoring a
booking is: which side of each split it takes, the mask per leaf, a gather, a sum per feature.
The bias is ``base margin + sum_leaves v * prod_j r_j`` (each tree's expected value).

The test (``data_science/tests/test_treeshap.py``) checks the result against XGBoost's own
``pred_contribs`` on every kind of split (numeric, categorical, missing values).
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

from data_science.treeshap_tables import UnsupportedBoosterError, base_margin, build_tables


class TreeExplainer:
    """Exact TreeSHAP contributions of a booster, for the float32 matrices it scores."""

    # Rows per pass: bounds the (groups x rows) intermediates to a few hundred MB.
    CHUNK = 256

    def __init__(self, booster: xgb.Booster) -> None:
        learner = json.loads(booster.save_raw("json"))["learner"]
        if int(learner["learner_model_param"].get("num_class", "0")) > 1:
            raise UnsupportedBoosterError("multi-class boosters are not supported")
        gbm = learner["gradient_booster"]
        if gbm.get("name") != "gbtree":
            raise UnsupportedBoosterError(f"booster {gbm.get('name')!r} is not a tree ensemble")
        self.n_features = int(learner["learner_model_param"]["num_feature"])
        self._tables = build_tables(gbm["model"]["trees"], self.n_features, base_margin(booster))

    @property
    def bias(self) -> float:
        return self._tables.bias

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(n, d + 1): each feature's share of each row's margin, the bias last.

        A row sums to the booster's margin (to float32 rounding: XGBoost sums in float32).
        """
        x = np.asarray(matrix, dtype=np.float32)
        out = np.zeros((len(x), self.n_features + 1))
        for start in range(0, len(x), self.CHUNK):
            out[start : start + self.CHUNK] = self._contributions(x[start : start + self.CHUNK])
        return out

    def _contributions(self, x: np.ndarray) -> np.ndarray:
        # Everything by (node, leaf or group) rows and bookings as columns, so that every step
        # runs along contiguous memory; np.take, several times faster than fancy indexing here.
        t = self._tables
        n, numeric = len(x), len(t.numeric_feature)
        columns = np.ascontiguousarray(x.T)
        goes_left = np.zeros((numeric + len(t.categorical_feature) + 1, n), dtype=bool)  # + padding
        values = np.take(columns, t.numeric_feature, axis=0)
        np.less(values, t.numeric_threshold, out=goes_left[:numeric])
        goes_left[:numeric] |= np.isnan(values) & t.numeric_missing_left
        if len(t.categorical_feature):
            codes = np.take(columns, t.categorical_feature, axis=0)
            # -1: invalid, 0..n_codes-1: codes, n_codes: beyond them, n_codes + 1: missing
            column = np.nan_to_num(np.clip(codes, -1, t.n_codes), nan=t.n_codes + 1) + 1
            goes_left[numeric:-1] = np.take(t.categorical_left, t.categorical_base + column.astype(np.int64))
        met = (
            (np.take(goes_left, t.test_node, axis=0) != t.test_right).view(np.uint8).reshape(t.n_tests, -1, n)
        )
        code = met[0].copy()  # (L, n): bit p = test p met
        for p in range(1, t.n_tests):
            code |= met[p] << p
        shares = np.take(t.table, t.group_base + np.take(code, t.group_leaf, axis=0))  # (G, n)
        out = np.zeros((self.n_features + 1, n))
        out[t.features_present] = np.add.reduceat(shares, t.feature_starts, axis=0)
        out[-1] = t.bias
        return out.T

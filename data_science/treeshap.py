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

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from scipy import sparse

_CATEGORICAL = 1
# A leaf's table has 2**(tests on its path) rows: beyond this many table entries in all, the
# tables would cost more memory than they save time, and XGBoost's own walk is used instead.
MAX_TABLE_ENTRIES = 20_000_000
MAX_PATH_TESTS = 8  # path codes are uint8


class UnsupportedBoosterError(ValueError):
    """A booster the tables cannot explain (not a single-output tree model, or too deep)."""


_Node = tuple[int, float, bool, list[int] | None]  # feature, threshold, missing goes left, categories


@dataclass(frozen=True)
class _Leaf:
    value: float
    tests: list[tuple[int, bool, int, float]]  # path order: node row, went left, feature, cover ratio

    def slots(self) -> tuple[list[int], list[float], list[int]]:
        """The path's distinct features, their zero fractions, and each test's slot among them."""
        features: list[int] = []
        ratios: list[float] = []
        slot_of_test = []
        for _, _, feature, ratio in self.tests:
            if feature not in features:
                features.append(feature)
                ratios.append(1.0)
            slot = features.index(feature)
            ratios[slot] *= ratio
            slot_of_test.append(slot)
        return features, ratios, slot_of_test


@dataclass(frozen=True)
class _Tables:
    # Internal nodes of all trees (N): how a booking is routed at each.
    node_feature: np.ndarray  # feature index
    node_threshold: np.ndarray  # (N, 1) float32: left when value < threshold (numeric nodes)
    node_missing_left: np.ndarray  # (N, 1) bool: where a missing value goes
    categorical_nodes: np.ndarray  # rows of the categorical nodes
    categorical_sets: np.ndarray  # flat (rows x n_codes) bool: the codes each of them sends right
    categorical_base: np.ndarray  # (rows, 1) row * n_codes
    n_codes: int
    # Leaves (L) with at least one test on their path; their p-th test (padded to the longest
    # path with node N, an extra "never left" row): code bit p = the booking takes the path's side.
    test_node: np.ndarray  # (P, L)
    test_right: np.ndarray  # (P, L, 1) bool: the path goes right at that test
    # Tables: row ``leaf * 2**P + code`` holds the leaf's contributions slot by slot (K slots,
    # padded with zeros); slot k of leaf l belongs to feature ``slot_feature[k]`` column l.
    leaf_row: np.ndarray  # (L, 1) leaf * 2**P
    table: np.ndarray  # (K, L * 2**P) float64
    slot_to_feature: list[sparse.csr_array]  # K times (d, L): adds slot k's values to its feature
    bias: float


def shapley_tables(values: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """(L, 2**k, k) contributions of L leaves with k distinct path features each.

    ``values`` (L,) leaf values, ``ratios`` (L, k) zero fractions ``r``; row ``m`` holds the
    contributions when the booking's one fractions ``a`` are the bits of ``m``.
    """
    n_leaves, k = ratios.shape
    ones = ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1).astype(np.float64)  # (2**k, k)
    weights = [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    tables = np.empty((n_leaves, 1 << k, k))
    for i in range(k):
        others = [j for j in range(k) if j != i]
        total = np.zeros((n_leaves, 1 << k))
        for size in range(k):
            for subset in itertools.combinations(others, size):
                rest = [j for j in others if j not in subset]
                in_subset = ones[:, list(subset)].prod(axis=1)  # prod_{j in S} a_j, per mask
                outside = ratios[:, rest].prod(axis=1)  # prod_{j in rest} r_j, per leaf
                total += weights[size] * outside[:, None] * in_subset[None, :]
        tables[:, :, i] = values[:, None] * (ones[None, :, i] - ratios[:, i, None]) * total
    return tables


def base_margin(booster: xgb.Booster) -> float:
    """The margin every prediction starts from (``base_score`` on the link's scale)."""
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    score = float(learner["learner_model_param"]["base_score"].strip("[]").split(",")[0])
    if objective in ("binary:logistic", "reg:logistic"):
        return math.log(score / (1.0 - score))
    if objective in ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror"):
        return score
    raise UnsupportedBoosterError(f"objective {objective!r} is not supported by the contribution tables")


def _paths(tree: dict[str, Any], first_row: int) -> tuple[list[_Node], list[_Leaf]]:
    """A tree's internal nodes (rows numbered from ``first_row``) and its leaves' paths."""
    left, right = tree["left_children"], tree["right_children"]
    feature, condition, cover = tree["split_indices"], tree["split_conditions"], tree["sum_hessian"]
    categories = tree.get("categories", [])
    segments = {
        node: categories[start : start + size]
        for node, start, size in zip(
            tree.get("categories_nodes", []),
            tree.get("categories_segments", []),
            tree.get("categories_sizes", []),
            strict=True,
        )
    }
    nodes: list[_Node] = []
    rows: dict[int, int] = {}
    for node in range(len(left)):
        if left[node] != -1:
            rows[node] = first_row + len(nodes)
            members = segments[node] if tree["split_type"][node] == _CATEGORICAL else None
            nodes.append((feature[node], float(condition[node]), bool(tree["default_left"][node]), members))
    leaves = []
    stack: list[tuple[int, tuple[tuple[int, bool, int, float], ...]]] = [(0, ())]
    while stack:
        node, path = stack.pop()
        if left[node] == -1:
            leaves.append(_Leaf(float(condition[node]), list(path)))
            continue
        for child, went_left in ((left[node], True), (right[node], False)):
            stack.append((child, (*path, (rows[node], went_left, feature[node], cover[child] / cover[node]))))
    return nodes, leaves


def _code_table(mask_table: np.ndarray, slot_of_test: list[int]) -> np.ndarray:
    """A leaf's (2**m, k) table by path code (bit p: test p met) from its table by feature mask.

    A feature's bit is set only when every test on it along the path is met.
    """
    m, k = len(slot_of_test), mask_table.shape[1]
    test_bits = ((np.arange(1 << m)[:, None] >> np.arange(m)) & 1).astype(bool)  # (2**m, m)
    slot_met = np.ones((1 << m, k), dtype=bool)
    for p, slot in enumerate(slot_of_test):
        slot_met[:, slot] &= test_bits[:, p]
    return mask_table[(slot_met * (1 << np.arange(k))).sum(axis=1)]


def _routing(nodes: list[_Node]) -> dict[str, Any]:
    """The node arrays of ``_Tables``: how a booking is routed at every internal node."""
    categorical_rows = np.asarray([i for i, node in enumerate(nodes) if node[3] is not None], dtype=np.int64)
    sets = [nodes[i][3] or [] for i in categorical_rows]
    n_codes = 1 + max((max(members) for members in sets if members), default=0)
    categorical_sets = np.zeros((len(sets), n_codes), dtype=bool)
    for j, members in enumerate(sets):
        categorical_sets[j, members] = True
    return {
        "node_feature": np.asarray([node[0] for node in nodes], dtype=np.int64),
        "node_threshold": np.asarray([node[1] for node in nodes], dtype=np.float32)[:, None],
        "node_missing_left": np.asarray([node[2] for node in nodes], dtype=bool)[:, None],
        "categorical_nodes": categorical_rows,
        "categorical_sets": categorical_sets.ravel(),
        "categorical_base": (np.arange(len(sets), dtype=np.int64) * n_codes)[:, None],
        "n_codes": n_codes,
    }


def _build(trees: list[dict[str, Any]], n_features: int, bias: float) -> _Tables:
    nodes: list[_Node] = []
    leaves: list[_Leaf] = []
    for tree in trees:
        tree_nodes, tree_leaves = _paths(tree, len(nodes))
        nodes += tree_nodes
        for leaf in tree_leaves:
            if leaf.tests:
                leaves.append(leaf)
            else:  # a tree that is a single leaf: a constant
                bias += leaf.value
    depth = max((len(leaf.tests) for leaf in leaves), default=0)
    if depth > MAX_PATH_TESTS or len(leaves) * (depth << depth) > MAX_TABLE_ENTRIES:
        raise UnsupportedBoosterError("the trees are too deep for contribution tables")
    slots = [leaf.slots() for leaf in leaves]
    # Each leaf's expected value (every fraction "zero") belongs to the bias.
    bias += sum(leaf.value * math.prod(ratios) for leaf, (_, ratios, _) in zip(leaves, slots, strict=True))
    width = max((len(features) for features, _, _ in slots), default=0)
    n_leaves = len(leaves)

    # Tables by mask, vectorised over the leaves with the same k, then re-indexed by path code
    # (codes above a leaf's own 2**m are never produced and stay zero).
    by_k: dict[int, list[int]] = {}
    for i, (features, _, _) in enumerate(slots):
        by_k.setdefault(len(features), []).append(i)
    table = np.zeros((n_leaves, 1 << depth, width))
    for k, members in by_k.items():
        values = np.array([leaves[i].value for i in members])
        mask_tables = shapley_tables(values, np.array([slots[i][1] for i in members]))
        for i, mask_table in zip(members, mask_tables, strict=True):
            table[i, : 1 << len(leaves[i].tests), :k] = _code_table(mask_table, slots[i][2])

    test_node = np.full((depth, n_leaves), len(nodes), dtype=np.int64)  # padding: the extra row
    test_right = np.zeros((depth, n_leaves, 1), dtype=bool)
    slot_leaves: list[list[int]] = [[] for _ in range(width)]
    slot_features: list[list[int]] = [[] for _ in range(width)]
    for i, leaf in enumerate(leaves):
        for p, (row, went_left, _, _) in enumerate(leaf.tests):
            test_node[p, i] = row
            test_right[p, i, 0] = not went_left
        for slot, feature in enumerate(slots[i][0]):
            slot_leaves[slot].append(i)
            slot_features[slot].append(feature)
    return _Tables(
        **_routing(nodes),
        test_node=test_node,
        test_right=test_right,
        leaf_row=(np.arange(n_leaves, dtype=np.int64) << depth)[:, None],
        table=np.ascontiguousarray(table.reshape(n_leaves << depth, width).T),
        slot_to_feature=[
            sparse.csr_array((np.ones(len(rows)), (slot_features[k], rows)), shape=(n_features, n_leaves))
            for k, rows in enumerate(slot_leaves)
        ],
        bias=bias,
    )


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
        self._tables = _build(gbm["model"]["trees"], self.n_features, base_margin(booster))

    @property
    def bias(self) -> float:
        return self._tables.bias

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(n, d + 1): each feature's share of each row's margin, the bias last.

        A row sums to the booster's margin (to float32 rounding: XGBoost sums in float32).
        """
        x = np.asarray(matrix, dtype=np.float32)
        out = np.empty((len(x), self.n_features + 1))
        out[:, -1] = self._tables.bias
        for start in range(0, len(x), self.CHUNK):
            out[start : start + self.CHUNK, :-1] = self._shares(x[start : start + self.CHUNK])
        return out

    def _shares(self, x: np.ndarray) -> np.ndarray:
        # np.take, not fancy indexing: several times faster for these gathers.
        t = self._tables
        n_nodes, n = len(t.node_feature), len(x)
        # Nodes by rows (N, n): each operation below runs along contiguous memory.
        values = np.take(np.ascontiguousarray(x.T), t.node_feature, axis=0)
        goes_left = np.zeros((n_nodes + 1, n), dtype=bool)  # last row: padding, never left
        np.less(values, t.node_threshold, out=goes_left[:n_nodes])
        if len(t.categorical_nodes):
            codes = np.take(values, t.categorical_nodes, axis=0)
            known = (codes >= 0) & (codes < t.n_codes)
            # Codes outside the trained categories go left, as in XGBoost (our encoder makes
            # unknown categories missing, handled next).
            cells = t.categorical_base + np.where(known, codes, 0).astype(np.int64)
            goes_left[t.categorical_nodes] = ~(np.take(t.categorical_sets, cells) & known)
        missing = np.isnan(values)
        if missing.any():
            goes_left[:n_nodes] = np.where(missing, t.node_missing_left, goes_left[:n_nodes])
        # The leaf's path code, bit by bit (uint8: paths of up to 8 tests, checked at build).
        code = np.zeros((t.test_node.shape[1], n), dtype=np.uint8)
        for p in range(len(t.test_node)):
            met = np.take(goes_left, t.test_node[p], axis=0) != t.test_right[p]
            code |= met.view(np.uint8) << p
        rows = t.leaf_row + code
        out = np.zeros((self.n_features, n))
        for slot_table, to_feature in zip(t.table, t.slot_to_feature, strict=True):
            out += to_feature @ np.take(slot_table, rows)  # (d, L) @ (L, n)
        return out.T

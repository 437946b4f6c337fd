"""The lookup tables behind ``treeshap.TreeExplainer``, built once per booster from its JSON dump.

Every leaf with ``k`` distinct features on its path gets the ``2**k`` contribution vectors it can
give (``shapley_tables``; the formula is in ``treeshap``'s docstring), re-indexed by which of the
path's tests a booking meets; the split nodes are laid out numeric first, then categorical, so
that a booking's route through every tree is a few vectorised comparisons.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

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
class Tables:
    # Internal nodes (N) of all trees, numeric ones first (Nq), then categorical ones.
    numeric_feature: np.ndarray  # (Nq,) feature index
    numeric_threshold: np.ndarray  # (Nq, 1) float32: left when value < threshold
    numeric_missing_left: np.ndarray  # (Nq, 1) bool: where a missing value goes
    categorical_feature: np.ndarray  # (N - Nq,)
    # Row r, column 1 + code: does categorical node r send that code left? Column 0 holds
    # negative codes and column n_codes + 1 codes beyond the trained ones (both invalid: left,
    # as in XGBoost), column n_codes + 2 missing values (the node's default).
    categorical_left: np.ndarray  # flat (N - Nq) x (n_codes + 3) bool
    categorical_base: np.ndarray  # (N - Nq, 1) row offsets into it
    n_codes: int
    # Leaves (L) with at least one test on their path. Test p of leaf l is row p * L + l
    # (node N, an extra row that is never "left", pads the shorter paths); a leaf's code has
    # bit p set when the booking takes the path's side at test p.
    test_node: np.ndarray  # (P * L,)
    test_right: np.ndarray  # (P * L, 1) bool: the path goes right at that test
    n_tests: int  # P
    # One group (G) per (leaf, distinct feature), sorted by feature: its value for a code c is
    # table[group_base + c]; the groups of feature ``features_present[i]`` start at starts[i].
    group_leaf: np.ndarray  # (G,)
    group_base: np.ndarray  # (G, 1)
    table: np.ndarray  # flat float64
    feature_starts: np.ndarray
    features_present: np.ndarray
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
    table: np.ndarray = mask_table[(slot_met * (1 << np.arange(k))).sum(axis=1)]
    return table


def _routing(nodes: list[_Node]) -> tuple[dict[str, Any], np.ndarray]:
    """The node arrays of ``Tables``, and each node's row in them (numeric nodes first)."""
    numeric = [i for i, node in enumerate(nodes) if node[3] is None]
    categorical = [i for i, node in enumerate(nodes) if node[3] is not None]
    row_of = np.empty(len(nodes) + 1, dtype=np.int64)
    row_of[numeric + categorical] = np.arange(len(nodes))
    row_of[len(nodes)] = len(nodes)  # the padding row stays last
    sets = [nodes[i][3] or [] for i in categorical]
    n_codes = 1 + max((max(members) for members in sets if members), default=0)
    left = np.ones((len(sets), n_codes + 3), dtype=bool)
    for r, (i, members) in enumerate(zip(categorical, sets, strict=True)):
        left[r, 1 + np.asarray(members, dtype=np.int64)] = False  # the set goes right
        left[r, n_codes + 2] = nodes[i][2]
    arrays = {
        "numeric_feature": np.asarray([nodes[i][0] for i in numeric], dtype=np.int64),
        "numeric_threshold": np.asarray([nodes[i][1] for i in numeric], dtype=np.float32)[:, None],
        "numeric_missing_left": np.asarray([nodes[i][2] for i in numeric], dtype=bool)[:, None],
        "categorical_feature": np.asarray([nodes[i][0] for i in categorical], dtype=np.int64),
        "categorical_left": left.ravel(),
        "categorical_base": (np.arange(len(sets), dtype=np.int64) * (n_codes + 3))[:, None],
        "n_codes": n_codes,
    }
    return arrays, row_of


def build_tables(trees: list[dict[str, Any]], n_features: int, bias: float) -> Tables:
    """The lookup tables of a booster's ``trees`` (XGBoost's JSON), its margin starting at ``bias``."""
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

    # Tables by mask, vectorised over the leaves with the same k, then re-indexed by path code
    # (codes above a leaf's own 2**m are never produced).
    by_k: dict[int, list[int]] = {}
    for i, (features, _, _) in enumerate(slots):
        by_k.setdefault(len(features), []).append(i)
    code_tables: list[np.ndarray] = [np.empty((0, 0))] * len(leaves)
    for members in by_k.values():
        values = np.array([leaves[i].value for i in members])
        mask_tables = shapley_tables(values, np.array([slots[i][1] for i in members]))
        for i, mask_table in zip(members, mask_tables, strict=True):
            code_tables[i] = _code_table(mask_table, slots[i][2])

    routing, row_of = _routing(nodes)
    n_leaves = len(leaves)
    test_node = np.full((depth, n_leaves), len(nodes), dtype=np.int64)  # padding: the extra row
    test_right = np.zeros((depth, n_leaves), dtype=bool)
    groups = []  # (feature, leaf, slot)
    for i, leaf in enumerate(leaves):
        for p, (row, went_left, _, _) in enumerate(leaf.tests):
            test_node[p, i] = row_of[row]
            test_right[p, i] = not went_left
        groups += [(feature, i, slot) for slot, feature in enumerate(slots[i][0])]
    # Groups by feature (for the sums), their table columns laid out in that same order: the
    # lookups then walk the table front to back instead of jumping around it.
    groups.sort()
    pieces = [code_tables[i][:, slot] for _, i, slot in groups]
    group_base = np.cumsum([0] + [len(piece) for piece in pieces[:-1]])
    group_leaf = [i for _, i, _ in groups]
    present, starts = np.unique(np.asarray([f for f, _, _ in groups], dtype=np.int64), return_index=True)
    return Tables(
        **routing,
        test_node=test_node.ravel(),
        test_right=test_right.reshape(-1, 1),
        n_tests=depth,
        group_leaf=np.asarray(group_leaf, dtype=np.int64),
        group_base=np.asarray(group_base, dtype=np.int64)[:, None],
        table=np.concatenate(pieces) if pieces else np.empty(0),
        feature_starts=starts,
        features_present=present,
        bias=bias,
    )

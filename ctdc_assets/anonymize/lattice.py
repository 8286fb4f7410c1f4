"""The frequency set and the lattice of generalization levels (steps 1 and 2 of
`engine`): working rows, class keys, information loss and the global search.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ctdc_assets.anonymize.hierarchies import Hierarchy


@dataclass
class Rows:
    """Working rows: a distinct QI combination (tuple), its records, its partition.

    A tuple can be split over several rows when some of its records are borrowed
    for a last group smaller than k; the rows of one tuple add up to its count.
    """

    tuple_: np.ndarray  # index into the frequency set
    count: np.ndarray
    part: np.ndarray  # partition (future equivalence class), -1 = deleted

    def split(self, row: int, take: int, part: int) -> None:
        """Move `take` records of a row into a new row of partition `part`."""
        self.count[row] -= take
        self.tuple_ = np.append(self.tuple_, self.tuple_[row])
        self.count = np.append(self.count, take)
        self.part = np.append(self.part, part)


def factorize(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids of equal keys (hash-based: several times faster than np.unique)."""
    ids, uniques = pd.factorize(key, sort=False)
    return ids, len(uniques)


class Lattice:
    """The frequency set, the lattice of levels, and evaluations on them."""

    def __init__(
        self,
        leaf_codes: np.ndarray,
        hierarchies: list[Hierarchy],
        k: int,
        l_value: int | None,
        sensitive: list[np.ndarray],
    ) -> None:
        self.k = k
        self.l_value = l_value
        self.tables = [h.table for h in hierarchies]
        self.radix = np.array([len(h.outputs) for h in hierarchies], dtype=np.int64)
        self.heights = np.array([h.height for h in hierarchies], dtype=np.int8)
        sizes = np.array([len(h.leaves) for h in hierarchies], dtype=np.int64)
        key = np.zeros(leaf_codes.shape[0], dtype=np.int64)
        for j in range(leaf_codes.shape[1]):
            key = key * sizes[j] + leaf_codes[:, j]
        unique, self.record_tuple, self.tuple_count = np.unique(
            key, return_inverse=True, return_counts=True
        )
        self.codes = np.empty((unique.size, leaf_codes.shape[1]), dtype=np.int64)
        rest = unique.copy()
        for j in range(leaf_codes.shape[1] - 1, -1, -1):
            self.codes[:, j] = rest % sizes[j]
            rest //= sizes[j]
        self.columns = [np.ascontiguousarray(self.codes[:, j]) for j in range(len(sizes))]
        # Class key = sum over QIs of (label code x place value): tables premultiplied.
        places = np.cumprod([1, *self.radix[::-1]])[:-1][::-1].astype(np.int64)
        self.placed = [
            t.astype(np.int64) * place for t, place in zip(self.tables, places, strict=True)
        ]
        # (tuple, sensitive value) pairs, for distinct l-diversity.
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for values in sensitive:
            width = int(values.max()) + 1
            pair = np.unique(self.record_tuple.astype(np.int64) * width + values)
            self.pairs.append((pair // width, pair % width))
        self.nodes = np.array(
            list(itertools.product(*[range(h + 1) for h in self.heights])), dtype=np.int8
        )
        # Nodes whose level of QI j is >= v, or <= v: up- and down-set masks.
        self.at_least = [
            [self.nodes[:, j] >= v for v in range(h + 1)] for j, h in enumerate(self.heights)
        ]
        self.at_most = [
            [self.nodes[:, j] <= v for v in range(h + 1)] for j, h in enumerate(self.heights)
        ]
        self.strides = np.cumprod([1, *(self.heights[::-1] + 1)])[:-1][::-1].astype(np.int64)
        # depth[j][level, leaf]: share of the QI's height a cell loses at that level.
        self.depth = [
            np.where(h.changed(), np.arange(h.height + 1)[:, None], 0) / h.height
            for h in hierarchies
        ]
        self.weights = np.array([h.weight for h in hierarchies])
        self.evaluations = 0

    def labels(self, tuples: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Class key of each row (tuples at one shared node, or at per-row levels)."""
        return self.keys([column[tuples] for column in self.columns], levels)

    def keys(self, leaves: list[np.ndarray], levels: np.ndarray) -> np.ndarray:
        """Class key from per-QI leaf codes (at one shared node, or per-row levels)."""
        shared = levels.ndim == 1
        key = np.zeros(leaves[0].size, dtype=np.int64)
        for j, placed in enumerate(self.placed):
            key += placed[levels[j]][leaves[j]] if shared else placed[levels[:, j], leaves[j]]
        return key

    def distinct_per_group(self, tuples: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
        """Smallest number of distinct sensitive values per group, over the attributes.

        Rows must map one-to-one to tuples (no borrowed rows), as with l-diversity on.
        """
        group_of_tuple = np.full(self.codes.shape[0], -1, dtype=np.int64)
        group_of_tuple[tuples] = group
        smallest = np.full(groups, np.iinfo(np.int64).max)
        for pair_tuple, pair_value in self.pairs:
            pair_group = group_of_tuple[pair_tuple]
            keep = pair_group >= 0
            width = int(pair_value.max()) + 1
            distinct = np.unique(pair_group[keep] * width + pair_value[keep])
            smallest = np.minimum(smallest, np.bincount(distinct // width, minlength=groups))
        return smallest

    def bad_rows(self, rows: Rows, select: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Which selected rows sit in a class below k (or not l-diverse)."""
        self.evaluations += 1
        ids, classes = factorize(self.labels(rows.tuple_[select], levels))
        size = np.bincount(ids, weights=rows.count[select], minlength=classes)
        bad = size < self.k
        if self.l_value is not None:
            bad |= self.distinct_per_group(rows.tuple_[select], ids, classes) < self.l_value
        return bad[ids]

    def loss(self, rows: Rows, select: np.ndarray) -> np.ndarray:
        """Information loss of every node for the selected rows (weighted, monotone)."""
        weight = rows.count[select].astype(np.float64)
        total = np.zeros(len(self.nodes))
        for j, depth in enumerate(self.depth):
            per_level = depth[:, self.codes[rows.tuple_[select], j]] @ weight / weight.sum()
            total += self.weights[j] * per_level[self.nodes[:, j]]
        return total

    def search(
        self, rows: Rows, select: np.ndarray, budget: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The least-loss node leaving at most `budget` records in bad classes.

        Nodes are visited in increasing loss; the first that passes is optimal. A
        failing node is first raised, one quasi-identifier after the other (binary
        search), to a maximal failing node: everything below it fails too and is
        never evaluated (monotonicity pruning). A passing node marks everything
        above it as passing. Class sizes of a node are rolled up from the classes
        of an evaluated node below it (hierarchies nest), so most evaluations
        touch a few hundred classes rather than every distinct combination.
        """
        loss = self.loss(rows, select)
        status = np.zeros(len(self.nodes), dtype=np.int8)  # 1 passes, -1 fails
        tuples = rows.tuple_[select]
        base = Classes(
            self.nodes[0],
            rows.count[select],
            [c[tuples] for c in self.columns],
            self.pairs_of(tuples, np.arange(tuples.size)),
        )
        cache: list[Classes] = []

        def passes(node: np.ndarray) -> bool:
            index = int(node.astype(np.int64) @ self.strides)
            if status[index]:
                return status[index] > 0
            outliers = self.rolled_up_outliers(node, base, cache)
            if outliers <= budget:
                status[self.upset(node)] = 1
                return True
            status[self.downset(node)] = -1
            return False

        for index in np.lexsort((self.nodes.sum(axis=1), loss)):
            if status[index] < 0:
                continue
            node = self.nodes[index]
            if passes(node):
                return node, self.bad_rows(rows, select, node)
            top = node.copy()
            for j in np.argsort(self.weights, kind="stable"):
                low, high = int(top[j]), int(self.heights[j])
                while low < high:
                    middle = (low + high + 1) // 2
                    trial = top.copy()
                    trial[j] = middle
                    if passes(trial):
                        high = middle - 1
                    else:
                        low = middle
                top[j] = low
        return None

    def upset(self, node: np.ndarray) -> np.ndarray:
        """Mask of the nodes at or above `node` (as general in every QI)."""
        mask = self.at_least[0][node[0]].copy()
        for j in range(1, len(node)):
            mask &= self.at_least[j][node[j]]
        return mask

    def downset(self, node: np.ndarray) -> np.ndarray:
        """Mask of the nodes at or below `node`."""
        mask = self.at_most[0][node[0]].copy()
        for j in range(1, len(node)):
            mask &= self.at_most[j][node[j]]
        return mask

    def rolled_up_outliers(self, node: np.ndarray, base: Classes, cache: list[Classes]) -> int:
        """Records in classes below k at `node`, from the smallest evaluated node below it."""
        self.evaluations += 1
        source = base
        if cache:
            below = (np.stack([entry.node for entry in cache]) <= node).all(axis=1)
            for position in np.flatnonzero(below):
                if cache[position].sizes.size < source.sizes.size:
                    source = cache[position]
        ids, classes = factorize(self.keys(source.leaves, node))
        sizes = np.bincount(ids, weights=source.sizes, minlength=classes).astype(np.int64)
        bad = sizes < self.k
        pairs = []
        for pair_class, pair_value in source.pairs:  # l-diversity: roll up (class, value)
            width = int(pair_value.max(initial=0)) + 1
            distinct = np.unique(ids[pair_class] * width + pair_value)
            pairs.append((distinct // width, distinct % width))
            bad |= np.bincount(pairs[-1][0], minlength=classes) < self.l_value
        if classes < base.sizes.size // 2:
            first = np.empty(classes, dtype=np.int64)
            first[ids] = np.arange(ids.size)
            leaves = [column[first] for column in source.leaves]
            cache.append(Classes(node.copy(), sizes, leaves, pairs))
            if len(cache) > 64:
                cache.pop(0)
        return int(sizes[bad].sum())

    def pairs_of(
        self, tuples: np.ndarray, group: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Distinct (group, sensitive value) pairs per l-diversity attribute."""
        group_of_tuple = np.full(self.codes.shape[0], -1, dtype=np.int64)
        group_of_tuple[tuples] = group
        pairs = []
        for pair_tuple, pair_value in self.pairs:
            pair_group = group_of_tuple[pair_tuple]
            keep = pair_group >= 0
            pairs.append((pair_group[keep], pair_value[keep]))
        return pairs


@dataclass
class Classes:
    """Equivalence classes of an evaluated node: a size and one member's leaf codes each."""

    node: np.ndarray
    sizes: np.ndarray
    leaves: list[np.ndarray]  # per QI
    pairs: list[tuple[np.ndarray, np.ndarray]]  # per l-diversity attribute: (class, value)

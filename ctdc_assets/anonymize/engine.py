"""k-anonymization: optimal global generalization, then local recoding.

Why our own engine: no maintained Python library does this well. The pure-Python
ones are greedy partitioners (Mondrian-style, e.g. `anonypy`) or slow lattice
walks over DataFrames; `pycanon` only measures; the good implementations (ARX,
sdcMicro) need a JVM or R. This one works on integer codes with NumPy and takes
about a second for 100,000 records on two cores.

Method (the CTDC method deletes every record of a class below k; this keeps them):

1. Encode each quasi-identifier as integer leaf codes and collapse the records into
   their distinct combinations with counts (the frequency set).
2. Global generalization (full-domain): every node of the lattice of hierarchy
   levels is a candidate; information loss is the weighted share of cells taken off
   their original granularity (monotone in every level). Nodes are tried in
   increasing loss; a failing node (more outliers, i.e. records in classes below k
   or not l-diverse, than the suppression limit allows) is raised to a maximal
   failing node, and every node below that is known to fail without evaluation
   (monotonicity pruning, as in ARX's Flash/OLA). The first node that passes is
   the optimum. Class sizes roll up from an evaluated node below (hierarchies
   nest), so most evaluations touch a few hundred classes.
3. Local recoding of the outliers: they are not deleted. They start as one group
   at the top of every hierarchy (all suppressed), and
4. every class (the global node's classes and the outliers' group) is then
   specialized top-down, record by record where the data allow: a class tries to
   lower one quasi-identifier by one level; the parts of at least k records take
   the finer value, the smaller parts stay together at the coarser one (a pool of
   at least k, topped up with the smallest parts if needed). The split that
   restores most weighted granularity wins; repeat until no class can split. A
   record thus keeps every value its class can afford: only the cells that make it
   rare are generalized or suppressed.
5. If the outliers are fewer than k, records from the classes with most room above
   k join them; a record is deleted only if l-diversity cannot be met at all.

Exactness: a label code stands for one published tuple of strings (the country,
sub-region and region columns of a country are one tuple), so counting classes on
label codes is counting them on the published table, with a generalized or
suppressed value as a value of its own. Classes never exchange records and a pool
keeps a value its siblings lack, so every class stays at least k; two classes that
happen to publish the same values only make a larger one. The result is verified
once more here on the codes, and independently by `audit.audit_release` on the
table itself.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from ctdc_assets.anonymize.figures import side_by_side
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard


class AnonymizationError(RuntimeError):
    """The input cannot be anonymized as the policy asks (names column, never values)."""


@dataclass
class Anonymization:
    """The release table and how it was made."""

    frame: pl.DataFrame
    figures: dict
    generalization: dict[str, str]  # the global node: {qi: level name}
    records_total: int
    records_deleted: int
    nodes_evaluated: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Rows:
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


def _factorize(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids of equal keys (hash-based: several times faster than np.unique)."""
    ids, uniques = pd.factorize(key, sort=False)
    return ids, len(uniques)


class _Lattice:
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

    def bad_rows(self, rows: _Rows, select: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Which selected rows sit in a class below k (or not l-diverse)."""
        self.evaluations += 1
        ids, classes = _factorize(self.labels(rows.tuple_[select], levels))
        size = np.bincount(ids, weights=rows.count[select], minlength=classes)
        bad = size < self.k
        if self.l_value is not None:
            bad |= self.distinct_per_group(rows.tuple_[select], ids, classes) < self.l_value
        return bad[ids]

    def loss(self, rows: _Rows, select: np.ndarray) -> np.ndarray:
        """Information loss of every node for the selected rows (weighted, monotone)."""
        weight = rows.count[select].astype(np.float64)
        total = np.zeros(len(self.nodes))
        for j, depth in enumerate(self.depth):
            per_level = depth[:, self.codes[rows.tuple_[select], j]] @ weight / weight.sum()
            total += self.weights[j] * per_level[self.nodes[:, j]]
        return total

    def search(
        self, rows: _Rows, select: np.ndarray, budget: int
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
        base = _Classes(
            self.nodes[0],
            rows.count[select],
            [c[tuples] for c in self.columns],
            self.pairs_of(tuples, np.arange(tuples.size)),
        )
        cache: list[_Classes] = []

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

    def rolled_up_outliers(self, node: np.ndarray, base: _Classes, cache: list[_Classes]) -> int:
        """Records in classes below k at `node`, from the smallest evaluated node below it."""
        self.evaluations += 1
        source = base
        if cache:
            below = (np.stack([entry.node for entry in cache]) <= node).all(axis=1)
            for position in np.flatnonzero(below):
                if cache[position].sizes.size < source.sizes.size:
                    source = cache[position]
        ids, classes = _factorize(self.keys(source.leaves, node))
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
            cache.append(_Classes(node.copy(), sizes, leaves, pairs))
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
class _Classes:
    """Equivalence classes of an evaluated node: a size and one member's leaf codes each."""

    node: np.ndarray
    sizes: np.ndarray
    leaves: list[np.ndarray]  # per QI
    pairs: list[tuple[np.ndarray, np.ndarray]]  # per l-diversity attribute: (class, value)


def _specialize(
    lattice: _Lattice, rows: _Rows, levels: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Top-down local specialization of partitions (each already >= k and l-diverse).

    In every step each active partition tries to lower each quasi-identifier by one
    level: its records split by the finer value; parts of k records or more take it,
    the smaller parts stay together at the partition's value (a pool, itself >= k:
    if it falls short, the smallest parts stay with it). The partition takes the
    split that restores most weighted granularity. Records never move between
    partitions, so every class stays >= k; a pool keeps a value its siblings do not
    have, so classes stay distinct.
    """
    k = lattice.k
    while active.any():
        selected = np.flatnonzero((rows.part >= 0) & (rows.count > 0))
        selected = selected[active[rows.part[selected]]]
        if selected.size == 0:
            break
        part = rows.part[selected]
        tuples = rows.tuple_[selected]
        counts = rows.count[selected].astype(np.float64)
        partitions = levels.shape[0]
        best_gain = np.zeros(partitions)
        best_q = np.full(partitions, -1)
        plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for q, table in enumerate(lattice.tables):
            level = levels[part, q].astype(np.int64)
            eligible = np.flatnonzero(level > 0)
            if eligible.size == 0:
                continue
            leaf = lattice.codes[tuples[eligible], q]
            finer = level[eligible] - 1
            label = table[finer, leaf]
            owner = part[eligible]
            child, children = _factorize(owner * lattice.radix[q] + label)
            size = np.bincount(child, weights=counts[eligible], minlength=children)
            child_part = np.empty(children, dtype=np.int64)
            child_part[child] = owner
            valid = size >= k
            if lattice.l_value is not None:
                diverse = lattice.distinct_per_group(tuples[eligible], child, children)
                valid &= diverse >= lattice.l_value
            valid = _fill_pools(valid, size, child_part, partitions, k)
            pooled_ok = np.ones(partitions, dtype=bool)
            if lattice.l_value is not None:
                pooled = ~valid[child]
                pool_id = np.where(pooled, owner, partitions)
                diverse = lattice.distinct_per_group(tuples[eligible], pool_id, partitions + 1)[
                    :partitions
                ]
                has_pool = np.bincount(owner[pooled], minlength=partitions) > 0
                pooled_ok = ~has_pool | (diverse >= lattice.l_value)
            depth = lattice.depth[q]
            gained = (depth[level[eligible], leaf] - depth[finer, leaf]) * counts[eligible]
            gain = lattice.weights[q] * np.bincount(
                owner, weights=gained * valid[child], minlength=partitions
            )
            gain[~pooled_ok] = 0
            better = gain > best_gain + 1e-12
            best_gain[better] = gain[better]
            best_q[better] = q
            plans[q] = (eligible, child, valid[child])
        active[best_q < 0] = False
        if (best_q < 0).all():
            break
        new_levels = [levels]
        next_id = partitions
        for q, (eligible, child, moves) in plans.items():
            chosen = best_q[part[eligible]] == q
            moving = chosen & moves
            if not moving.any():
                continue
            ids, count = _factorize(child[moving])
            target = selected[eligible[moving]]
            parents = np.empty(count, dtype=np.int64)
            parents[ids] = rows.part[target]
            block = levels[parents].copy()
            block[:, q] -= 1
            rows.part[target] = next_id + ids
            new_levels.append(block)
            next_id += count
        levels = np.vstack(new_levels)
        active = np.concatenate([active, np.ones(next_id - partitions, dtype=bool)])
    return levels


def _fill_pools(
    valid: np.ndarray, size: np.ndarray, child_part: np.ndarray, partitions: int, k: int
) -> np.ndarray:
    """Pools below k take a partition's smallest valid parts until they reach k."""
    pool = np.bincount(child_part, weights=size * ~valid, minlength=partitions)
    short = (pool > 0) & (pool < k)
    candidates = np.flatnonzero(valid & short[child_part])
    if candidates.size == 0:
        return valid
    order = candidates[np.lexsort((size[candidates], child_part[candidates]))]
    owner = child_part[order]
    cumulative = np.cumsum(size[order])
    start = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]
    before = cumulative - size[order]
    before -= np.repeat(before[start], np.diff(np.r_[start, order.size]))
    valid = valid.copy()
    valid[order[pool[owner] + before < k]] = False
    return valid


@dataclass
class Recoding:
    """What the anonymization decided for every input record, before any frame is built.

    `labels[:, j]` is the label code of quasi-identifier j (an index into its
    hierarchy's `outputs`); deleted records (`kept` False) carry the top level.
    """

    kept: np.ndarray  # bool, one per input record
    labels: np.ndarray  # (records, QIs) label codes
    node: np.ndarray  # the global generalization node
    generalization: dict[str, str]
    method: dict
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def records_total(self) -> int:
        return int(self.kept.size)


def recode(
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> Recoding:
    """Decide every record's published QI values; see the module docstring.

    `victims` needs only the quasi-identifiers and the l-diversity attributes (any
    string-like dtype: values are compared as text), in the input order.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    qis = policy.qi_names
    _check_input(victims, qis)
    leaf_codes = np.column_stack([_encode(victims[q], hierarchies[q]) for q in qis])
    sensitive = []
    if policy.l_diversity:
        sensitive = [
            victims[a].cast(pl.String).rank("dense").to_numpy().astype(np.int64) - 1
            for a in policy.l_diversity.attributes
        ]
    lattice = _Lattice(
        leaf_codes,
        [hierarchies[q] for q in qis],
        policy.k,
        policy.l_diversity.l if policy.l_diversity else None,
        sensitive,
    )
    n = victims.height
    rows = _Rows(
        tuple_=np.arange(lattice.tuple_count.size),
        count=lattice.tuple_count.astype(np.int64),
        part=np.full(lattice.tuple_count.size, -1, dtype=np.int64),
    )
    timings["encode_seconds"] = time.perf_counter() - started

    step = time.perf_counter()
    everything = np.arange(rows.count.size)
    found = lattice.search(rows, everything, math.floor(policy.suppression_limit * n))
    top = lattice.heights.copy()
    outliers = 0
    if found is None:  # fewer than k records, or l-diversity impossible even at the top
        node, levels = top, top[None, :]  # one empty partition: every record is deleted
    else:
        node, bad = found
        good = everything[~bad]
        ids, classes = _factorize(lattice.labels(rows.tuple_[good], node))
        rows.part[good] = ids
        levels = np.tile(node, (classes, 1))
        if bad.any():
            # The outliers start at the top node, as one partition, and specialize below.
            rows.part[everything[bad]] = classes
            levels = np.vstack([levels, top])
            outliers = int(rows.count[bad].sum())
            if not _protect_outliers(lattice, rows, classes, outliers, policy):
                rows.part[rows.part == classes] = -1
    timings["global_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    levels = _specialize(lattice, rows, levels, np.ones(levels.shape[0], dtype=bool))
    _verify(lattice, rows, levels)
    timings["local_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    record_part = rows.part[_record_rows(lattice, rows)]
    kept = record_part >= 0
    record_levels = np.where(kept[:, None], levels[np.maximum(record_part, 0)], top)
    del record_part
    labels = np.empty(leaf_codes.shape, dtype=np.uint32)
    for j, q in enumerate(qis):
        labels[:, j] = hierarchies[q].table[record_levels[:, j], leaf_codes[:, j]]
    below = (record_levels[kept] < node).any(axis=1)
    above = (record_levels[kept] > node).any(axis=1)
    timings["labels_seconds"] = time.perf_counter() - step
    generalization = _node_names(node, qis, hierarchies)
    return Recoding(
        kept=kept,
        labels=labels,
        node=node,
        generalization=generalization,
        method={
            "global_generalization": generalization,
            "outliers_of_global_generalization": outliers,
            "records_finer_than_global": int(below.sum()),
            "records_coarser_than_global": int(above.sum()),
            "nodes_in_lattice": len(lattice.nodes),
            "nodes_evaluated": lattice.evaluations,
        },
        timings=timings,
    )


def anonymize(
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> Anonymization:
    """k-anonymize `merged.victims` per the policy; see the module docstring.

    Builds the whole release table in memory: for big inputs, `recode` a narrow frame
    and write the table with SQL (`release.candidate` does).
    """
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    _check_columns(victims, standard)
    recoding = recode(victims, policy, standard=standard, hierarchies=hierarchies)
    timings = dict(recoding.timings)
    step = time.perf_counter()
    kept = pl.Series(recoding.kept)
    replaced = qi_columns(policy, hierarchies, recoding.labels)
    frame = pl.DataFrame(
        [replaced[c] if c in replaced else victims[c] for c in policy.release_columns(standard)]
    ).filter(kept)
    # Row order must not carry the input order (delivery order can follow dates):
    # order by a hash of the row's content.
    frame = frame.sort(frame.hash_rows(seed=0), maintain_order=True)
    timings["frame_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    figures = release_figures_of(frame, victims, policy, recoding, standard, hierarchies)
    timings["figures_seconds"] = time.perf_counter() - step
    timings["total_seconds"] = sum(timings.values())
    return Anonymization(
        frame=frame,
        figures=figures,
        generalization=recoding.generalization,
        records_total=recoding.records_total,
        records_deleted=int((~recoding.kept).sum()),
        nodes_evaluated=recoding.method["nodes_evaluated"],
        timings=timings,
    )


def figure_columns(policy: ReleasePolicy) -> list[str]:
    """The input columns the figures read besides the quasi-identifiers."""
    return [a for a in policy.sensitive_attributes if a not in policy.qi_names]


def release_figures_of(
    published: pl.DataFrame,
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    recoding: Recoding,
    standard: Standard,
    hierarchies: dict[str, Hierarchy],
) -> dict:
    """Figures of a release: `published` needs the published QI (and region) columns and
    `figure_columns` of the kept records, `victims` the QIs and `figure_columns` of all."""
    figures = side_by_side(published, victims, policy, standard=standard, hierarchies=hierarchies)
    figures["method"] = recoding.method
    return figures


def qi_columns(
    policy: ReleasePolicy,
    hierarchies: dict[str, Hierarchy],
    labels: np.ndarray,
    *,
    as_enum: bool = False,
) -> dict[str, pl.Series]:
    """Published QI (and region) columns as strings (or, compact, as Enums of the same
    values), from label codes of some records."""
    replaced: dict[str, pl.Series] = {}
    for j, q in enumerate(policy.qi_names):
        indices = pl.Series(labels[:, j], dtype=pl.UInt32)
        for column, strings in label_strings(hierarchies[q]).items():
            if as_enum:
                strings = strings.cast(pl.Enum(strings.unique().sort()))
            replaced[column] = strings.gather(indices)
    return replaced


def label_strings(hierarchy: Hierarchy) -> dict[str, pl.Series]:
    """Each published column of a hierarchy: its string by label code."""
    return {
        column: pl.Series(column, [o[position] for o in hierarchy.outputs], pl.String)
        for position, column in enumerate(hierarchy.columns)
    }


def _protect_outliers(
    lattice: _Lattice, rows: _Rows, part: int, outliers: int, policy: ReleasePolicy
) -> bool:
    """Make the outliers' partition (at the top node) >= k and l-diverse, if possible."""
    if outliers < lattice.k:
        if lattice.l_value is not None:  # borrowing could break a donor's diversity
            return False
        return _borrow(lattice, rows, part, lattice.k - outliers)
    if lattice.l_value is not None:
        members = np.flatnonzero(rows.part == part)
        diverse = lattice.distinct_per_group(rows.tuple_[members], np.zeros_like(members), 1)
        return bool(diverse[0] >= lattice.l_value)
    return True


def _check_columns(victims: pl.DataFrame, standard: Standard) -> None:
    missing = [c for c in standard.columns if c not in victims.columns]
    if missing:
        raise AnonymizationError(f"victims lacks standard columns: {', '.join(missing)}")


def _check_input(victims: pl.DataFrame, qis: list[str]) -> None:
    missing = [c for c in qis if c not in victims.columns]
    if missing:
        raise AnonymizationError(f"victims lacks quasi-identifiers: {', '.join(missing)}")
    nulls = [c for c in qis if victims[c].null_count()]
    if nulls:
        raise AnonymizationError(
            f"quasi-identifiers with empty cells (the standard uses -99): {', '.join(nulls)}"
        )


def _encode(column: pl.Series, hierarchy: Hierarchy) -> np.ndarray:
    """Leaf codes of a QI column; values outside the standard are an error."""
    mapping = {leaf: i for i, leaf in enumerate(hierarchy.leaves)}
    if isinstance(column.dtype, pl.Enum):  # map the categories, not every cell
        categories = column.dtype.categories.replace_strict(
            mapping, default=-1, return_dtype=pl.Int32
        )
        codes = categories.gather(column.to_physical()).rename(column.name)
    else:
        codes = column.cast(pl.String).replace_strict(mapping, default=-1, return_dtype=pl.Int32)
    unknown = (codes == -1).arg_true()
    if unknown.len():
        rows = ", ".join(str(r + 1) for r in unknown.head(5).to_list())
        raise AnonymizationError(
            f"{column.name}: {unknown.len()} values outside the standard (rows {rows}, ...)"
        )
    return codes.to_numpy()


def _borrow(lattice: _Lattice, rows: _Rows, target: int, need: int) -> bool:
    """Move `need` records into partition `target` from the classes with most room above k."""
    kept = rows.part >= 0
    size = np.bincount(rows.part[kept], weights=rows.count[kept]).astype(np.int64)
    room = size - lattice.k
    room[target] = 0
    if room.sum() < need:
        return False
    for donor in np.argsort(-room, kind="stable"):
        for row in np.flatnonzero(rows.part == donor):
            take = min(need, int(room[donor]), int(rows.count[row]))
            if take:
                rows.split(row, take, target)
                room[donor] -= take
                need -= take
        if need == 0:
            return True
    return need == 0


def _record_rows(lattice: _Lattice, rows: _Rows) -> np.ndarray:
    """The working row of every record (records of a split tuple fill its rows in turn)."""
    by_tuple = np.argsort(lattice.record_tuple, kind="stable")
    row_order = np.argsort(rows.tuple_, kind="stable")
    record_row = np.empty(lattice.record_tuple.size, dtype=np.int64)
    record_row[by_tuple] = np.repeat(row_order, rows.count[row_order])
    return record_row


def _verify(lattice: _Lattice, rows: _Rows, levels: np.ndarray) -> None:
    """Defence in depth: k (and l) on the published label codes of the kept rows."""
    kept = np.flatnonzero((rows.part >= 0) & (rows.count > 0))
    if kept.size == 0:
        return
    tuples = rows.tuple_[kept]
    ids, classes = _factorize(lattice.labels(tuples, levels[rows.part[kept]]))
    size = np.bincount(ids, weights=rows.count[kept])
    if size.min() < lattice.k:
        raise AnonymizationError(f"internal error: a class of {int(size.min())} < k")
    if (
        lattice.l_value is not None
        and lattice.distinct_per_group(tuples, ids, classes).min() < lattice.l_value
    ):
        raise AnonymizationError("internal error: a class is not l-diverse")


def _node_names(node: np.ndarray, qis: list[str], hierarchies: dict[str, Hierarchy]) -> dict:
    return {q: hierarchies[q].level_names[int(lv)] for q, lv in zip(qis, node, strict=True)}

"""Local recoding (steps 3 to 5 of `engine`): the outliers' partition is made >= k,
then every partition is specialized top-down as far as k (and l) allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctdc_assets.anonymize.lattice import Lattice, Rows, factorize
from ctdc_assets.anonymize.policy_model import ReleasePolicy


def specialize(lattice: Lattice, rows: Rows, levels: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Top-down local specialization of partitions (each already >= k and l-diverse).

    In every step each active partition tries to lower each quasi-identifier by one
    level: its records split by the finer value; parts of k records or more take it,
    the smaller parts stay together at the partition's value (a pool, itself >= k:
    if it falls short, the smallest parts stay with it). The partition takes the
    split that restores most weighted granularity. Records never move between
    partitions, so every class stays >= k; a pool keeps a value its siblings do not
    have, so classes stay distinct.
    """
    while active.any():
        step = _step(rows, levels, active)
        if step is None:
            break
        best_gain = np.zeros(step.partitions)
        best_q = np.full(step.partitions, -1)
        plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for q in range(len(lattice.tables)):
            found = _split(lattice, step, levels, q)
            if found is None:
                continue
            gain, plans[q] = found
            better = gain > best_gain + 1e-12
            best_gain[better] = gain[better]
            best_q[better] = q
        active[best_q < 0] = False
        if (best_q < 0).all():
            break
        levels, added = _apply(rows, levels, step, plans, best_q)
        active = np.concatenate([active, np.ones(added, dtype=bool)])
    return levels


@dataclass
class _Step:
    """The rows of the active partitions at one step of `specialize`."""

    selected: np.ndarray  # their indices in the working rows
    part: np.ndarray
    tuples: np.ndarray
    counts: np.ndarray  # float64
    partitions: int  # partitions before the step


def _step(rows: Rows, levels: np.ndarray, active: np.ndarray) -> _Step | None:
    selected = np.flatnonzero((rows.part >= 0) & (rows.count > 0))
    selected = selected[active[rows.part[selected]]]
    if selected.size == 0:
        return None
    return _Step(
        selected=selected,
        part=rows.part[selected],
        tuples=rows.tuple_[selected],
        counts=rows.count[selected].astype(np.float64),
        partitions=levels.shape[0],
    )


def _split(
    lattice: Lattice, step: _Step, levels: np.ndarray, q: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Each partition's gain from lowering QI q by one level, and the plan: the rows
    that can (`eligible`), their part (`child`), and whether that part moves."""
    level = levels[step.part, q].astype(np.int64)
    eligible = np.flatnonzero(level > 0)
    if eligible.size == 0:
        return None
    tuples, owner, counts = step.tuples[eligible], step.part[eligible], step.counts[eligible]
    leaf = lattice.codes[tuples, q]
    finer = level[eligible] - 1
    child, children = factorize(owner * lattice.radix[q] + lattice.tables[q][finer, leaf])
    size = np.bincount(child, weights=counts, minlength=children)
    child_part = np.empty(children, dtype=np.int64)
    child_part[child] = owner
    valid = size >= lattice.k
    if lattice.l_value is not None:
        valid &= lattice.distinct_per_group(tuples, child, children) >= lattice.l_value
    valid = _fill_pools(valid, size, child_part, step.partitions, lattice.k)
    depth = lattice.depth[q]
    gained = (depth[level[eligible], leaf] - depth[finer, leaf]) * counts
    gain = lattice.weights[q] * np.bincount(
        owner, weights=gained * valid[child], minlength=step.partitions
    )
    gain[~_pools_diverse(lattice, tuples, owner, ~valid[child], step.partitions)] = 0
    return gain, (eligible, child, valid[child])


def _pools_diverse(
    lattice: Lattice, tuples: np.ndarray, owner: np.ndarray, pooled: np.ndarray, partitions: int
) -> np.ndarray:
    """Per partition: the pool of its parts that stay is l-diverse, or it has none."""
    if lattice.l_value is None:
        return np.ones(partitions, dtype=bool)
    pool_id = np.where(pooled, owner, partitions)
    diverse = lattice.distinct_per_group(tuples, pool_id, partitions + 1)[:partitions]
    has_pool = np.bincount(owner[pooled], minlength=partitions) > 0
    return ~has_pool | (diverse >= lattice.l_value)


def _apply(
    rows: Rows,
    levels: np.ndarray,
    step: _Step,
    plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    best_q: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Move the parts of each partition's best split into new partitions, one level
    finer in that QI; the levels of every partition, and how many were added."""
    new_levels = [levels]
    next_id = step.partitions
    for q, (eligible, child, moves) in plans.items():
        moving = (best_q[step.part[eligible]] == q) & moves
        if not moving.any():
            continue
        ids, count = factorize(child[moving])
        target = step.selected[eligible[moving]]
        parents = np.empty(count, dtype=np.int64)
        parents[ids] = rows.part[target]
        block = levels[parents].copy()
        block[:, q] -= 1
        rows.part[target] = next_id + ids
        new_levels.append(block)
        next_id += count
    return np.vstack(new_levels), next_id - step.partitions


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


def protect_outliers(
    lattice: Lattice, rows: Rows, part: int, outliers: int, policy: ReleasePolicy
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


def _borrow(lattice: Lattice, rows: Rows, target: int, need: int) -> bool:
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

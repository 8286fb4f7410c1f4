"""Small-cell protection of the aggregate tables: primary and secondary suppression.

Method (also written into `about_tables.method`):

1. Cells. A count is identified by what it counts, not by the table it is in: the
   conditions that are not `All` (a country implies its region, so the region is left
   out of a cell that names a country). The same count published in two tables (victims
   in Europe in 2019, say) is one cell and is suppressed in both or in neither.
2. Relations. Every additive dimension of a table gives relations `total = sum of parts`
   (the `All` row and the rows of one group). Multi-response dimensions give none (a
   person may count in several rows). Year and region are dimensions like the others, so
   every relation the dashboard's filter can show is here.
3. Primary suppression: every count from 1 to threshold - 1.
4. Secondary suppression, until nothing changes: in a relation whose total is
   published, the suppressed parts are none, or at least two summing to at least the
   threshold (so what one learns by subtraction is neither one cell nor a small count);
   in a relation whose total is suppressed, at least one part is suppressed too. The
   smallest published parts are suppressed first (least information lost).
5. Linear check: rules 4 hold relation by relation, yet a suppressed count can still be
   determined by combining relations (a "bridge"). The null space of the system of all
   relations over the suppressed cells is probed with random vectors (LSMR); a cell whose
   coordinate vanishes in every probe is determined; the published count weighing most
   in the combination of relations that gives it is suppressed too; then step 4 again.

Zero counts are never listed, so they are known to be 0; the method never needs them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

ALL = "All"
KEY_SEPARATOR = "\x1f"
PROBES = 3
TOLERANCE = 1e-6
MAX_ROUNDS = 50
REPAIRS_PER_ROUND = 20
MAX_ITERATIONS = 50_000


@dataclass(frozen=True)
class Layout:
    """How a table's dimensions relate: which add up, which is nested in which."""

    dims: tuple[str, ...]
    additive: frozenset[str]
    parents: Mapping[str, str] = field(default_factory=dict)  # child -> parent


def cell_keys(frame: pl.DataFrame, layout: Layout) -> pl.Series:
    """What each row counts, as text: `col=value` for every condition that is not All."""
    children_of: dict[str, list[str]] = {}
    for child, parent in layout.parents.items():
        children_of.setdefault(parent, []).append(child)
    parts = []
    for column in sorted(layout.dims):
        skip = pl.col(column) == ALL
        if column in children_of:  # a country names its region: the region is implied
            skip |= pl.any_horizontal([pl.col(c) != ALL for c in children_of[column]])
        parts.append(pl.when(skip).then(None).otherwise(pl.lit(f"{column}=") + pl.col(column)))
    return frame.select(
        pl.concat_list(parts).list.drop_nulls().list.join(KEY_SEPARATOR).alias("key")
    )["key"]


@dataclass
class _System:
    counts: np.ndarray
    totals: np.ndarray  # line -> total cell
    members: list[np.ndarray]  # line -> part cells
    lines_of: list[list[int]]  # cell -> lines it is in (as total or part)


def _relations(
    keyed: Mapping[str, pl.DataFrame], layouts: Mapping[str, Layout], ids: pl.DataFrame
) -> set[tuple[int, tuple[int, ...]]]:
    lines: set[tuple[int, tuple[int, ...]]] = set()
    for name, frame in keyed.items():
        frame = frame.join(ids, on="key", how="left")
        lay = layouts[name]
        for dim in lay.dims:
            if dim not in lay.additive:
                continue
            others = [d for d in lay.dims if d != dim]
            totals = frame.filter(pl.col(dim) == ALL).select(*others, pl.col("id").alias("t"))
            parts = (
                frame.filter(pl.col(dim) != ALL)
                .group_by(others)
                .agg(pl.col("id").sort().alias("m"))
            )
            for total, members in (
                totals.join(parts, on=others, how="inner").select("t", "m").iter_rows()
            ):
                if len(members) == 1 and members[0] == total:
                    continue  # the same cell named twice (a country and its region)
                lines.add((total, tuple(members)))
    return lines


def _system(
    tables: Mapping[str, pl.DataFrame], layouts: Mapping[str, Layout]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, _System]:
    keyed = {
        name: frame.with_columns(cell_keys(frame, layouts[name])) for name, frame in tables.items()
    }
    registry = pl.concat([f.select("key", "count") for f in keyed.values()]).unique()
    clash = registry.group_by("key").len().filter(pl.col("len") > 1)
    if clash.height:
        raise ValueError(f"{clash.height} cells counted differently in two tables")
    ids = registry.sort("key").with_row_index("id").with_columns(pl.col("id").cast(pl.Int64))
    lines = sorted(_relations(keyed, layouts, ids.select("key", "id")))
    counts = ids["count"].to_numpy().astype(np.int64)
    lines_of: list[list[int]] = [[] for _ in range(len(counts))]
    for index, (total, members) in enumerate(lines):
        lines_of[total].append(index)
        for m in members:
            lines_of[m].append(index)
    system = _System(
        counts=counts,
        totals=np.array([t for t, _ in lines], dtype=np.int64),
        members=[np.array(m, dtype=np.int64) for _, m in lines],
        lines_of=lines_of,
    )
    return keyed, ids.select("key", "id"), system


def _secondary(system: _System, hidden: np.ndarray, threshold: int, queue: deque[int]) -> None:
    """Apply rule 4 to every queued relation, re-queueing relations of new suppressions."""
    counts = system.counts
    queued = np.zeros(len(system.totals), dtype=bool)
    queued[list(queue)] = True

    def hide(cell: int) -> None:
        hidden[cell] = True
        for line in system.lines_of[cell]:
            if not queued[line]:
                queued[line] = True
                queue.append(line)

    while queue:
        line = queue.popleft()
        queued[line] = False
        total, members = system.totals[line], system.members[line]
        mask = hidden[members]
        if hidden[total]:
            if not mask.any():
                hide(int(members[np.argmin(counts[members])]))
            continue
        if not mask.any():
            continue
        n, s = int(mask.sum()), int(counts[members][mask].sum())
        if n >= 2 and s >= threshold:
            continue
        published = members[~mask]
        for cell in published[np.argsort(counts[published], kind="stable")]:
            hide(int(cell))
            n, s = n + 1, s + int(counts[cell])
            if n >= 2 and s >= threshold:
                break
        else:
            hide(int(total))


def _matrix(system: _System, hidden: np.ndarray) -> tuple[object, np.ndarray, np.ndarray]:
    """The relations over the suppressed cells: one row per relation that has any."""
    from scipy.sparse import csr_matrix

    unknown = np.flatnonzero(hidden)
    column = np.full(len(hidden), -1, dtype=np.int64)
    column[unknown] = np.arange(unknown.size)
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    used: list[int] = []
    for line, (total, members) in enumerate(zip(system.totals, system.members, strict=True)):
        parts = column[members]
        parts = parts[parts >= 0]
        if parts.size == 0 and column[total] < 0:
            continue
        row = len(used)
        rows += [row] * parts.size
        cols += parts.tolist()
        values += [1.0] * parts.size
        if column[total] >= 0:
            rows.append(row)
            cols.append(int(column[total]))
            values.append(-1.0)
        used.append(line)
    matrix = csr_matrix((values, (rows, cols)), shape=(len(used), unknown.size))
    return matrix, unknown, np.array(used, dtype=np.int64)


def _solve(matrix: object, target: np.ndarray) -> np.ndarray:
    """Least-squares y with matrix.T @ y as close as possible to target."""
    from scipy.sparse.linalg import lsmr

    y, stop = lsmr(matrix.T, target, atol=1e-12, btol=1e-12, maxiter=MAX_ITERATIONS)[:2]
    if stop not in (1, 2):
        raise RuntimeError(f"the linear check did not converge (LSMR stop {stop})")
    return y


def determined_cells(system: _System, hidden: np.ndarray, seed: int = 0) -> np.ndarray:
    """Suppressed cells whose value follows from the published relations (rule 5)."""
    matrix, unknown, _ = _matrix(system, hidden)
    if unknown.size == 0 or matrix.shape[0] == 0:
        return unknown[:0]
    rng = np.random.default_rng(seed)
    fixed = np.ones(unknown.size, dtype=bool)
    for _ in range(PROBES):
        probe = rng.standard_normal(unknown.size)
        null = probe - matrix.T @ _solve(matrix, probe)  # the probe's part in the null space
        fixed &= np.abs(null) < TOLERANCE
    return unknown[fixed]


def _unfix(system: _System, hidden: np.ndarray, cells: np.ndarray) -> list[int]:
    """For each determined cell, suppress a published count its determination uses: the
    least-squares combination of relations giving the cell is found, and the published
    count weighing most in it becomes unknown."""
    from scipy.sparse import csr_matrix

    matrix, unknown, used = _matrix(system, hidden)
    rows, cols, values = [], [], []
    for row, line in enumerate(used):
        members = system.members[line]
        rows += [row] * (members.size + 1)
        cols += [*members.tolist(), int(system.totals[line])]
        values += [1.0] * members.size + [-1.0]
    full = csr_matrix((values, (rows, cols)), shape=(len(used), len(hidden)))
    position = {int(c): i for i, c in enumerate(unknown)}
    counts, changed = system.counts, []
    for cell in cells:
        if int(cell) not in position:
            continue
        target = np.zeros(unknown.size)
        target[position[int(cell)]] = 1.0
        weight = full.T @ _solve(matrix, target)  # what each count adds to the cell
        candidates = np.flatnonzero((np.abs(weight) > 1e-6) & ~hidden)
        if candidates.size == 0:
            continue
        # the count that weighs most in the combination (ties: the smallest count)
        order = np.lexsort((counts[candidates], -np.round(np.abs(weight[candidates]), 6)))
        pick = int(candidates[order[0]])
        hidden[pick] = True
        changed.append(pick)
    return changed


def protect(
    tables: Mapping[str, pl.DataFrame], layouts: Mapping[str, Layout], threshold: int
) -> dict[str, pl.DataFrame]:
    """Tables with `count` nulled where suppressed and a `suppressed` column."""
    keyed, ids, system = _system(tables, layouts)
    counts = system.counts
    hidden = (counts > 0) & (counts < threshold)
    _secondary(system, hidden, threshold, deque(range(len(system.totals))))
    for _ in range(MAX_ROUNDS):
        fixed = determined_cells(system, hidden)
        if fixed.size == 0:
            break
        changed = _unfix(system, hidden, fixed[:REPAIRS_PER_ROUND])
        if not changed:
            raise RuntimeError(f"{fixed.size} suppressed counts cannot be protected")
        queue = deque(sorted({line for cell in changed for line in system.lines_of[cell]}))
        _secondary(system, hidden, threshold, queue)
    else:
        raise RuntimeError("small-cell protection did not converge")
    status = ids.with_columns(pl.Series("suppressed", hidden[ids["id"].to_numpy()]))
    out = {}
    for name, frame in keyed.items():
        joined = frame.join(status.select("key", "suppressed"), on="key", how="left")
        out[name] = joined.with_columns(
            pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("count")).alias("count")
        ).drop("key")
    return out

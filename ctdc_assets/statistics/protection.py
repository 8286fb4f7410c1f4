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
   determined by combining relations (a "bridge"). A suppressed count is determined
   exactly when it is 0 in every vector of the null space of the system of all relations
   over the suppressed counts (the published ones are constants). That system is solved
   exactly, in integers modulo the prime 2^61 - 1, by sparse Gaussian elimination
   (pivots on the suppressed counts in fewest relations first, so the tables' structure
   keeps it sparse: no dense matrix, no iteration to converge), and one random null-space
   vector is drawn: a count is determined when its coordinate is 0. A count that is not
   determined is 0 there only by a 2^-61 chance, which would only suppress one more; a
   count the rationals determine is missed only if the prime divides a minor of the
   system (a 61-bit coincidence; the audit's check uses another prime).
   For each determined count, the relations around it are gathered outward until they
   determine it; the least-squares combination of those relations that gives it is
   computed, and the published count weighing most in it is suppressed too; then step 4
   again, and the check again, until no suppressed count is determined. The whole
   system is solved once: suppressing more never makes a free count determined (a null
   vector, extended by 0 on the newly suppressed counts, is still one: the relations
   they bring in hold only them), so each later round re-checks only the counts found
   determined and those suppressed since, each in the smallest neighbourhood of
   relations that decides it.

Zero counts are never listed, so they are known to be 0; the method never needs them.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

ALL = "All"
KEY_SEPARATOR = "\x1f"
PRIME = (1 << 61) - 1  # a Mersenne prime; residues fit in 61 bits
TOLERANCE = 1e-6
MAX_ROUNDS = 50
REPAIRS_PER_ROUND = 20
LOCAL_CELLS = 200  # more cells to re-check than this: one check of the whole system
LOCAL_LINES = 2_000  # a neighbourhood needing more relations: the whole system too


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
        pl.concat_str(parts, separator=KEY_SEPARATOR, ignore_nulls=True).alias("key")
    )["key"]


@dataclass
class _System:
    """All relations `total = sum of parts` over the cells, as plain lists (the loops of
    rules 4 and 5 visit them one at a time, where lists beat small array slices)."""

    counts: list[int]  # cell -> count
    totals: list[int]  # line -> total cell
    members: list[list[int]]  # line -> part cells (sorted)
    lines_of: list[list[int]]  # cell -> lines it is in (as total or part)


def _relations(
    keyed: Mapping[str, pl.DataFrame], layouts: Mapping[str, Layout], ids: pl.DataFrame
) -> pl.DataFrame:
    """One row per distinct relation: total cell `t` and its sorted part cells `m`."""
    found = []
    for name, frame in keyed.items():
        rows = frame.join(ids, on="key", how="left").lazy()
        lay = layouts[name]
        for dim in lay.dims:
            if dim not in lay.additive:
                continue
            others = [d for d in lay.dims if d != dim]
            totals = rows.filter(pl.col(dim) == ALL).select(*others, pl.col("id").alias("t"))
            parts = (
                rows.filter(pl.col(dim) != ALL).group_by(others).agg(pl.col("id").sort().alias("m"))
            )
            found.append(totals.join(parts, on=others, how="inner").select("t", "m"))
    if not found:
        return pl.DataFrame(schema={"t": pl.Int64, "m": pl.List(pl.Int64)})
    same = (pl.col("m").list.len() == 1) & (pl.col("m").list.first() == pl.col("t"))
    return (
        pl.concat(found)
        .filter(~same)  # the same cell named twice (a country and its region)
        .unique()  # a relation shown by several tables is one relation
        .sort("t", "m")
        .collect()
    )


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
    lines = _relations(keyed, layouts, ids.select("key", "id"))
    counts = ids["count"].cast(pl.Int64).to_list()
    # cell -> the lines it is in, in line order (the order rule 4 visits them)
    sizes = lines["m"].list.len().to_numpy()
    line = np.arange(lines.height, dtype=np.int64)
    cells = np.concatenate([lines["t"].to_numpy(), lines["m"].explode().to_numpy()])
    in_line = np.concatenate([line, np.repeat(line, sizes)])
    order = np.lexsort((in_line, cells))
    flat = in_line[order].tolist()
    bounds = np.searchsorted(cells[order], np.arange(len(counts) + 1)).tolist()
    lines_of = [flat[a:b] for a, b in itertools.pairwise(bounds)]
    system = _System(counts, lines["t"].to_list(), lines["m"].to_list(), lines_of)
    return keyed, ids.select("key", "id"), system


def _secondary(system: _System, hidden: list[bool], threshold: int, lines: Iterable[int]) -> None:
    """Apply rule 4 to every queued relation, re-queueing relations of new suppressions."""
    counts, totals, members_of, lines_of = (
        system.counts,
        system.totals,
        system.members,
        system.lines_of,
    )
    queue = deque(lines)
    queued = bytearray(len(totals))
    for line in queue:
        queued[line] = 1

    def hide(cell: int) -> None:
        hidden[cell] = True
        for line in lines_of[cell]:
            if not queued[line]:
                queued[line] = 1
                queue.append(line)

    while queue:
        line = queue.popleft()
        queued[line] = 0
        total, members = totals[line], members_of[line]
        suppressed = [m for m in members if hidden[m]]
        if hidden[total]:
            if not suppressed:
                hide(min(members, key=counts.__getitem__))
            continue
        if not suppressed:
            continue
        n, s = len(suppressed), sum(counts[m] for m in suppressed)
        if n >= 2 and s >= threshold:
            continue
        for cell in sorted((m for m in members if not hidden[m]), key=counts.__getitem__):
            hide(cell)
            n, s = n + 1, s + counts[cell]
            if n >= 2 and s >= threshold:
                break
        else:
            hide(total)


# --------------------------------------------------------------------------- rule 5


def _rows(system: _System, hidden: list[bool], lines: Iterable[int]) -> dict[int, dict[int, int]]:
    """Line -> {suppressed cell: coefficient mod PRIME} (parts +1, total -1), for the
    given lines that hold a suppressed cell."""
    rows: dict[int, dict[int, int]] = {}
    for line in lines:
        row = {m: 1 for m in system.members[line] if hidden[m]}
        total = system.totals[line]
        if hidden[total]:
            row[total] = (row.get(total, 0) - 1) % PRIME
            if not row[total]:
                del row[total]
        if row:
            rows[line] = row
    return rows


def null_vector(rows: Iterable[dict[int, int]], seed: int = 0) -> dict[int, int]:
    """A random vector of the null space of the rows (sparse: column -> coefficient,
    modulo PRIME), by Gaussian elimination, each step on the column in fewest rows (and
    its shortest row) to keep the rows sparse. Consumes the rows.

    A column that is 0 in this vector is 0 in every null vector (determined by the
    rows), except by a chance of 1/PRIME."""
    rows = [row for row in rows if row]
    rows_of: dict[int, set[int]] = {}
    for index, row in enumerate(rows):
        for column in row:
            rows_of.setdefault(column, set()).add(index)
    heap = [(len(r), c) for c, r in rows_of.items()]
    heapq.heapify(heap)
    done: set[int] = set()
    pivots: list[tuple[int, dict[int, int]]] = []
    while heap:
        size, column = heapq.heappop(heap)
        holding = rows_of[column]
        if column in done or size != len(holding) or not size:
            continue  # stale entry (a fresher one is in the heap) or a free column
        pivot = min(holding, key=lambda i: len(rows[i]))
        prow = rows[pivot]
        for c in prow:
            rows_of[c].discard(pivot)
        inverse = pow(prow[column], PRIME - 2, PRIME)
        rest = [(c, v) for c, v in prow.items() if c != column]
        _eliminate(rows, rows_of, holding, column, inverse, rest)
        holding.clear()
        done.add(column)
        pivots.append((column, prow))
        for c, _ in rest:
            if c not in done:
                heapq.heappush(heap, (len(rows_of[c]), c))
    return _back_substitute(pivots, sorted(set(rows_of) - done), seed)


def _eliminate(
    rows: list[dict[int, int]],
    rows_of: dict[int, set[int]],
    holding: set[int],
    column: int,
    inverse: int,
    rest: list[tuple[int, int]],
) -> None:
    """Take the pivot row (its `column` entry's inverse, its other entries `rest`) off
    every row in `holding`, so that `column` leaves them."""
    for index in holding:
        row = rows[index]
        factor = row.pop(column) * inverse % PRIME
        for c, v in rest:
            old = row.get(c)
            if old is None:
                row[c] = -factor * v % PRIME
                rows_of[c].add(index)
            else:
                new = (old - factor * v) % PRIME
                if new:
                    row[c] = new
                else:
                    del row[c]
                    rows_of[c].discard(index)


def _back_substitute(
    pivots: list[tuple[int, dict[int, int]]], free: list[int], seed: int
) -> dict[int, int]:
    """Random values for the free columns, then each pivot column from its row."""
    rng = np.random.default_rng(seed)
    x = dict(zip(free, rng.integers(1, PRIME, size=len(free)).tolist(), strict=True))
    for column, prow in reversed(pivots):  # back-substitution: later pivots are known
        acc = sum(v * x[c] for c, v in prow.items() if c != column)
        x[column] = -acc * pow(prow[column], PRIME - 2, PRIME) % PRIME
    return x


def determined_cells(system: _System, hidden: list[bool], seed: int = 0) -> list[int]:
    """Suppressed cells whose value follows from the published relations (rule 5)."""
    rows = _rows(system, hidden, range(len(system.totals)))
    x = null_vector(rows.values(), seed)
    return sorted(c for c, v in x.items() if v == 0)


def _around(system: _System, hidden: list[bool], cell: int) -> Iterator[tuple[set[int], dict]]:
    """Growing neighbourhoods of a suppressed cell: the suppressed cells reached and the
    relations holding any of them (line -> row), one layer of relations further each
    time, until the cell's whole connected part of the system is covered."""
    reached = {cell}
    lines = set(system.lines_of[cell])
    while True:
        rows = _rows(system, hidden, lines)
        yield reached, rows
        new = {c for row in rows.values() for c in row} - reached
        if not new:
            return
        reached |= new
        lines |= {line for c in new for line in system.lines_of[c]}


def _copy(rows: dict[int, dict[int, int]]) -> list[dict[int, int]]:
    return [dict(row) for row in rows.values()]


class _TooFar(Exception):
    """A neighbourhood grew past LOCAL_LINES: checking the whole system is cheaper."""


def _decide(
    system: _System, hidden: list[bool], cell: int, limit: int | None = None
) -> list[int] | None:
    """Rule 5 for one suppressed cell, from the smallest neighbourhood that decides it:
    the relations that determine it (it is 0 in a random null vector of them), or None
    when it is free (a null vector of the neighbourhood that is 0 outside the cells
    reached moves it; every relation holding a reached cell is in the neighbourhood, so
    that vector satisfies all relations). Raises _TooFar past `limit` relations."""
    for reached, rows in _around(system, hidden, cell):
        if limit is not None and len(rows) > limit:
            raise _TooFar
        if null_vector(_copy(rows)).get(cell) == 0:
            return sorted(rows)
        inside = [{c: v for c, v in row.items() if c in reached} for row in rows.values()]
        if null_vector(inside).get(cell, 0) != 0:
            return None
    return None


def _combination(system: _System, hidden: list[bool], cell: int, lines: list[int]) -> np.ndarray:
    """Least-squares (minimum-norm) y over `lines` with sum(y * relation) = the cell over
    the suppressed cells: what each relation contributes to recovering the cell."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import lsmr

    rows = _rows(system, hidden, lines)
    columns = sorted({c for row in rows.values() for c in row})
    position = {c: i for i, c in enumerate(columns)}
    r, k, v = [], [], []
    for i, line in enumerate(lines):
        for c, value in rows[line].items():
            r.append(i)
            k.append(position[c])
            v.append(float(value if value <= PRIME // 2 else value - PRIME))
    target = np.zeros(len(columns))
    target[position[cell]] = 1.0
    matrix = csr_matrix((v, (r, k)), shape=(len(lines), len(columns)))
    return lsmr(matrix.T, target, atol=1e-12, btol=1e-12, maxiter=50_000)[0]


def _unfix(system: _System, hidden: list[bool], cells: Iterable[int]) -> list[int]:
    """For each determined cell, suppress a published count its determination uses: the
    least-squares combination of the relations around it that gives the cell is found,
    and the published count weighing most in it becomes suppressed."""
    changed = []
    for cell in cells:
        lines = _decide(system, hidden, cell)
        if lines is None:
            continue  # an earlier repair made it free
        y = _combination(system, hidden, cell, lines)
        weight: dict[int, float] = {}
        for line, share in zip(lines, y.tolist(), strict=True):
            for m in system.members[line]:
                weight[m] = weight.get(m, 0.0) + share
            total = system.totals[line]
            weight[total] = weight.get(total, 0.0) - share
        candidates = [c for c, w in weight.items() if abs(w) > TOLERANCE and not hidden[c]]
        if not candidates:
            continue
        # the count that weighs most in the combination (ties: the smallest count)
        pick = min(candidates, key=lambda c: (-round(abs(weight[c]), 6), system.counts[c], c))
        hidden[pick] = True
        changed.append(pick)
    return changed


def _recheck(system: _System, hidden: list[bool], cells: list[int]) -> list[int]:
    """Which of `cells` are determined: each in its neighbourhood when they are few and
    their neighbourhoods small, else by one check of the whole system."""
    try:
        if len(cells) > LOCAL_CELLS:
            raise _TooFar
        return [c for c in cells if _decide(system, hidden, c, LOCAL_LINES) is not None]
    except _TooFar:
        return determined_cells(system, hidden)


def protect(
    tables: Mapping[str, pl.DataFrame], layouts: Mapping[str, Layout], threshold: int
) -> dict[str, pl.DataFrame]:
    """Tables with `count` nulled where suppressed and a `suppressed` column."""
    keyed, ids, system = _system(tables, layouts)
    hidden = [0 < n < threshold for n in system.counts]
    _secondary(system, hidden, threshold, range(len(system.totals)))
    # rule 5 on the whole system once, then on the suspects only (see the docstring)
    suspects = determined_cells(system, hidden)
    rounds = 0
    while suspects:
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError("small-cell protection did not converge")
        before = list(hidden)
        changed = _unfix(system, hidden, suspects[:REPAIRS_PER_ROUND])
        if not changed:
            raise RuntimeError(f"{len(suspects)} suppressed counts cannot be protected")
        touched = sorted({line for cell in changed for line in system.lines_of[cell]})
        _secondary(system, hidden, threshold, touched)
        new = [c for c, (now, was) in enumerate(zip(hidden, before, strict=True)) if now > was]
        suspects = _recheck(system, hidden, sorted({*suspects, *new}))
    status = ids.with_columns(pl.Series("suppressed", hidden, dtype=pl.Boolean)).lazy()
    out = [
        frame.lazy()
        .join(status.select("key", "suppressed"), on="key", how="left")
        .with_columns(
            pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("count")).alias("count")
        )
        .drop("key")
        for frame in keyed.values()
    ]
    return dict(zip(keyed, pl.collect_all(out), strict=True))

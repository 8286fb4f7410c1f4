"""Independent audit of published aggregate tables: no small or recoverable count.

Reads only the tables as published (and their guide, `about_tables`, which says which
columns are dimensions, which are multi-response, fixed or nested). It does not import
the code that suppressed: it rebuilds every relation `total = sum of parts` from the rows
themselves and checks

- no published count from 1 to threshold - 1;
- a suppressed row shows no count, no share (share x total would give it back), and
  `total` / `unknown_share` use published counts only;
- one count is published or suppressed alike in every table that holds it;
- in every relation with a published total, the suppressed parts are none or at least
  two, and what they add up to (total minus the published parts) is not a small count;
  a suppressed total has a suppressed part; published parts add up;
- no suppressed count is determined by all relations together (linear algebra: the
  suppressed cells' system is probed for its null space with random vectors; a cell
  that never moves is determined).

Findings name the table, the cell (its dimension values) and the reason, never a
suppressed value.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

ALL = "All"
GUIDE = "about_tables"
MEASURES = ("count", "suppressed", "total", "share", "unknown_share")
FILTERS = ("year", "region")


@dataclass(frozen=True)
class Finding:
    """One failure of the audit, readable in a check's metadata."""

    table: str
    cell: str
    reason: str


@dataclass(frozen=True)
class _Structure:
    dims: tuple[str, ...]
    multi: frozenset[str]
    fixed: frozenset[str]
    parent: dict[str, str]  # child -> parent
    unknown: dict[str, str]

    @property
    def additive(self) -> list[str]:
        return [d for d in self.dims if d not in self.multi and d not in self.fixed]

    @property
    def categories(self) -> list[str]:
        return [d for d in self.dims if d not in FILTERS and d not in self.fixed]


def _split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def _structures(guide: pl.DataFrame) -> dict[str, _Structure]:
    out = {}
    for row in guide.iter_rows(named=True):
        nested = [pair.split("<") for pair in _split(row["nested"])]
        out[row["table"]] = _Structure(
            dims=tuple(_split(row["dimensions"])),
            multi=frozenset(_split(row["multi_response"])),
            fixed=frozenset(_split(row["fixed"])),
            parent={child: parent for child, parent in nested},
            unknown=dict(pair.split(":", 1) for pair in _split(row["unknown_values"])),
        )
    return out


def _describe(row: Mapping[str, object], dims: tuple[str, ...]) -> str:
    return ", ".join(f"{d}={row[d]}" for d in dims)


def _key(row: Mapping[str, object], s: _Structure) -> str:
    implied = {s.parent[c] for c in s.parent if row[c] != ALL}
    return "|".join(f"{d}={row[d]}" for d in sorted(s.dims) if row[d] != ALL and d not in implied)


def audit_tables(tables: Mapping[str, pl.DataFrame], threshold: int) -> list[Finding]:
    """Every way the published tables show or give away a count below the threshold."""
    if GUIDE not in tables:
        return [Finding(GUIDE, "-", "missing: without it the tables' relations are unknown")]
    structures = _structures(tables[GUIDE])
    findings: list[Finding] = []
    for name in sorted(set(tables) - {GUIDE} - set(structures)):
        findings.append(Finding(name, "-", f"not described in {GUIDE}; cannot be audited"))
    declared = tables[GUIDE]["threshold"].min() if tables[GUIDE].height else None
    if declared is not None and int(declared) < threshold:  # type: ignore[arg-type]
        findings.append(Finding(GUIDE, "threshold", f"below the policy's threshold {threshold}"))

    cells: dict[str, tuple[str, str, int | None]] = {}  # key -> (table, description, value)
    relations: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}
    for name, s in structures.items():
        table = tables.get(name)
        if table is None:
            findings.append(Finding(name, "-", "described but not published"))
            continue
        missing = [c for c in (*s.dims, *MEASURES) if c not in table.columns]
        if missing:
            findings.append(Finding(name, "-", f"columns missing: {', '.join(missing)}"))
            continue
        findings += _rows(name, table, s, threshold)
        findings += _shared(name, table, s, cells)
        _relations_of(name, table, s, relations)
    findings += _check_relations(relations, cells, threshold)
    findings += _linear(relations, cells)
    unique = list(dict.fromkeys(findings))
    return unique


def _rows(name: str, table: pl.DataFrame, s: _Structure, threshold: int) -> list[Finding]:
    """Row by row: small counts, and measures that give a suppressed count away."""
    out = []
    small = pl.col("count").is_not_null() & (pl.col("count") > 0) & (pl.col("count") < threshold)
    checks = [
        (small, f"published count below the threshold {threshold}"),
        (pl.col("suppressed") & pl.col("count").is_not_null(), "suppressed but shows a count"),
        (~pl.col("suppressed") & pl.col("count").is_null(), "neither published nor suppressed"),
        (
            pl.col("suppressed") & pl.col("share").is_not_null(),
            "share of a suppressed count is published (share x total gives it back)",
        ),
    ]
    for condition, reason in checks:
        for row in table.filter(condition).iter_rows(named=True):
            out.append(Finding(name, _describe(row, s.dims), reason))
    state = [*FILTERS, *[d for d in s.fixed if d not in FILTERS]]
    at_all = pl.all_horizontal([pl.col(d) == ALL for d in s.categories])
    totals = table.filter(at_all).select(*state, pl.col("count").alias("_total"))
    joined = table.join(totals, on=state, how="left")
    wrong = joined.filter(
        pl.col("total").is_not_null()
        & (pl.col("_total").is_null() | (pl.col("total") != pl.col("_total")))
    )
    for row in wrong.head(50).iter_rows(named=True):
        out.append(Finding(name, _describe(row, s.dims), "total is not the published total row"))
    out += _unknown_shares(name, table, s, state, totals)
    return out


def _unknown_shares(
    name: str, table: pl.DataFrame, s: _Structure, state: list[str], totals: pl.DataFrame
) -> list[Finding]:
    """unknown_share must follow from published rows (inclusion-exclusion)."""
    out = []
    index = {
        tuple(r[d] for d in (*state, *s.categories)): r
        for r in table.select(*state, *s.categories, "count", "suppressed").iter_rows(named=True)
    }
    shares = table.filter(pl.all_horizontal([pl.col(d) == ALL for d in s.categories]))
    for row in shares.filter(pl.col("unknown_share").is_not_null()).iter_rows(named=True):
        base = tuple(row[d] for d in state)
        value, uses_hidden = 0, False
        for size in range(1, len(s.categories) + 1):
            for subset in itertools.combinations(s.categories, size):
                cell = tuple(
                    s.unknown.get(d, "Unknown") if d in subset else ALL for d in s.categories
                )
                found = index.get((*base, *cell))
                if found is None:
                    continue
                if found["suppressed"]:
                    uses_hidden = True
                    continue
                value += (1 if size % 2 else -1) * int(found["count"])
        where = _describe(row, s.dims)
        if uses_hidden:
            out.append(Finding(name, where, "unknown_share uses a suppressed count"))
        elif row["total"] and abs(value / row["total"] - row["unknown_share"]) > 1e-9:
            out.append(Finding(name, where, "unknown_share does not follow from published counts"))
    return out


def _shared(
    name: str, table: pl.DataFrame, s: _Structure, cells: dict[str, tuple[str, str, int | None]]
) -> list[Finding]:
    """The same count in two tables: published in both or suppressed in both, and equal."""
    out = []
    for row in table.iter_rows(named=True):
        key = _key(row, s)
        value = None if row["suppressed"] else row["count"]
        where = _describe(row, s.dims)
        if key not in cells:
            cells[key] = (name, where, value)
            continue
        other, _, seen = cells[key]
        if (seen is None) != (value is None):
            hidden_in = name if value is None else other
            shown_in = other if value is None else name
            out.append(Finding(hidden_in, where, f"suppressed here but published in {shown_in}"))
        elif seen is not None and seen != value:
            out.append(Finding(name, where, f"differs from the same count in {other}"))
    return out


def _relations_of(
    name: str,
    table: pl.DataFrame,
    s: _Structure,
    relations: dict[tuple[str, tuple[str, ...]], tuple[str, str]],
) -> None:
    """Every `total = sum of parts` the table shows, by cell keys."""
    keyed = table.with_columns(
        pl.Series("_key", [_key(r, s) for r in table.select(s.dims).iter_rows(named=True)])
    )
    for dim in s.additive:
        others = [d for d in s.dims if d != dim]
        totals = keyed.filter(pl.col(dim) == ALL).select(*others, pl.col("_key").alias("_t"))
        parts = keyed.filter(pl.col(dim) != ALL).group_by(others).agg(pl.col("_key").alias("_m"))
        joined = totals.join(parts, on=others, how="inner")
        for row in joined.iter_rows(named=True):
            members = tuple(sorted(row["_m"]))
            if members == (row["_t"],):
                continue  # a country and the same country under its region
            relations.setdefault((row["_t"], members), (name, f"total over {dim}"))


def _check_relations(
    relations: Mapping[tuple[str, tuple[str, ...]], tuple[str, str]],
    cells: Mapping[str, tuple[str, str, int | None]],
    threshold: int,
) -> list[Finding]:
    out = []
    for (total, members), (name, what) in relations.items():
        total_value = cells[total][2]
        values = [cells[m][2] for m in members]
        hidden = [m for m, v in zip(members, values, strict=True) if v is None]
        published = sum(v for v in values if v is not None)
        where = f"{cells[total][1]} ({what})"
        if total_value is None:
            if not hidden:
                out.append(Finding(name, where, "suppressed total = sum of its published parts"))
            continue
        if published > total_value or (not hidden and published != total_value):
            out.append(Finding(name, where, "published parts do not add up to the total"))
        elif len(hidden) == 1:
            cell = cells[hidden[0]]
            out.append(
                Finding(cell[0], cell[1], f"only suppressed part of a published total ({what})")
            )
        elif hidden and 0 < total_value - published < threshold:
            out.append(Finding(name, where, f"suppressed parts add up to less than {threshold}"))
    return out


def _linear(
    relations: Mapping[tuple[str, tuple[str, ...]], tuple[str, str]],
    cells: Mapping[str, tuple[str, str, int | None]],
    seed: int = 1,
) -> list[Finding]:
    """Suppressed counts determined by combining relations (a null-space probe)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import lsmr

    unknown = sorted(k for k, (_, _, v) in cells.items() if v is None)
    if not unknown:
        return []
    column = {k: i for i, k in enumerate(unknown)}
    rows, cols, values = [], [], []
    row = 0
    for total, members in relations:
        entries = [(column[m], 1.0) for m in members if m in column]
        if total in column:
            entries.append((column[total], -1.0))
        if not entries:
            continue
        for c, v in entries:
            rows.append(row)
            cols.append(c)
            values.append(v)
        row += 1
    if row == 0:
        return []
    matrix = coo_matrix((values, (rows, cols)), shape=(row, len(unknown))).tocsr()
    rng = np.random.default_rng(seed)
    still = np.ones(len(unknown), dtype=bool)
    for _ in range(3):
        probe = rng.standard_normal(len(unknown))
        y, stop = lsmr(matrix.T, probe, atol=1e-12, btol=1e-12, maxiter=50_000)[:2]
        if stop not in (1, 2):
            return [Finding("*", "-", "linear check did not converge; protection not verified")]
        still &= np.abs(probe - matrix.T @ y) < 1e-6
    out = []
    for i in np.flatnonzero(still):
        table, where, _ = cells[unknown[i]]
        out.append(Finding(table, where, "recoverable by combining published totals"))
    return out

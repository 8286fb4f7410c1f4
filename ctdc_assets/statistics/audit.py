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
- no suppressed count is determined by all relations together: the system of every
  relation over the suppressed counts is solved exactly (integers modulo the prime
  2^62 - 57, sparse elimination) and a random vector of its null space is drawn; a
  suppressed count that is 0 there is fixed by the published counts. (A free count is 0
  there only by a 2^-62 chance, which would be a false alarm, never a miss.)

Findings name the table, the cell (its dimension values) and the reason, never a
suppressed value. Everything is computed on whole columns (Polars) except the
elimination, so the audit's time follows the number of cells, not of records.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

ALL = "All"
GUIDE = "about_tables"
MEASURES = ("count", "suppressed", "total", "share", "unknown_share")
FILTERS = ("year", "region")
MODULUS = (1 << 62) - 57  # prime; not the one protection uses, on purpose
LISTED = 50  # wrong `total` findings listed per table at most (the first ones)
PTABLE = "perturbation_table"  # the cell-key method's ptable: checked by audit_recount


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


def _where(dims: tuple[str, ...] | list[str]) -> pl.Expr:
    """The cell as findings name it: `dim=value, ...` (dimension values only)."""
    parts: list[pl.Expr] = []
    for i, d in enumerate(dims):
        parts += [pl.lit(f"{', ' if i else ''}{d}="), pl.col(d).cast(pl.String)]
    return pl.concat_str(parts)


def _key(s: _Structure) -> pl.Expr:
    """What a row counts, whatever the table: its conditions that are not All (a region
    is implied, so left out, when a country nested in it is named)."""
    parts = []
    for d in sorted(s.dims):
        named = pl.col(d) != ALL
        children = [c for c, p in s.parent.items() if p == d]
        if children:
            named &= ~pl.any_horizontal([pl.col(c) != ALL for c in children])
        parts.append(pl.when(named).then(pl.lit(f"{d}=") + pl.col(d).cast(pl.String)))
    return pl.concat_str(parts, separator="|", ignore_nulls=True)


def audit_tables(tables: Mapping[str, pl.DataFrame], threshold: int) -> list[Finding]:
    """Every way the published tables show or give away a count below the threshold."""
    if GUIDE not in tables:
        return [Finding(GUIDE, "-", "missing: without it the tables' relations are unknown")]
    structures = _structures(tables[GUIDE])
    findings: list[Finding] = []
    for name in sorted(set(tables) - {GUIDE, PTABLE} - set(structures)):
        findings.append(Finding(name, "-", f"not described in {GUIDE}; cannot be audited"))
    declared = tables[GUIDE]["threshold"].min() if tables[GUIDE].height else None
    if declared is not None and int(declared) < threshold:  # type: ignore[arg-type]
        findings.append(Finding(GUIDE, "threshold", f"below the policy's threshold {threshold}"))

    keyed: dict[str, tuple[int, pl.DataFrame, _Structure]] = {}
    failing: list[pl.LazyFrame] = []
    for order, (name, s) in enumerate(structures.items()):
        table = tables.get(name)
        if table is None:
            findings.append(Finding(name, "-", "described but not published"))
            continue
        missing = [c for c in (*s.dims, *MEASURES) if c not in table.columns]
        if missing:
            findings.append(Finding(name, "-", f"columns missing: {', '.join(missing)}"))
            continue
        table = table.with_columns(
            _key(s).alias("_key"),
            _where(s.dims).alias("_where"),
            pl.when(pl.col("suppressed").fill_null(False))
            .then(None)
            .otherwise(pl.col("count"))
            .cast(pl.Int64)
            .alias("_value"),
            pl.lit(name).alias("_table"),
            pl.lit(order).alias("_order"),
            pl.int_range(pl.len()).alias("_row"),
        )
        failing += _rows(name, table.lazy(), s, threshold)
        keyed[name] = (order, table, s)
    for frame in pl.collect_all(failing):
        findings += [Finding(*row) for row in frame.iter_rows()]
    if not keyed:
        return list(dict.fromkeys(findings))
    columns = ["_key", "_table", "_order", "_row", "_where", "_value"]
    shown = pl.concat([frame.select(columns) for _, frame, _ in keyed.values()])
    findings += _shared(shown)
    if _perturbed(tables[GUIDE]):
        # Cell key: totals are perturbed cells of their own, parts need not add up, and
        # nothing is suppressed; whether each count is its cell's true count plus the
        # ptable's perturbation needs the records (`audit_recount`).
        return list(dict.fromkeys(findings))
    # one cell per count, described by the first table (guide order) that holds it
    registry = (
        shown.unique("_key", keep="first", maintain_order=True)
        .select("_key", "_table", "_where", "_value")
        .with_row_index("_id")
    )
    ids = registry.select("_key", "_id")
    relations = [
        _relations_of(name, order, frame.join(ids, on="_key", how="left"), s)
        for name, (order, frame, s) in keyed.items()
    ]
    found = [r for found in relations for r in found]
    if not found:
        return list(dict.fromkeys(findings))
    lines = (
        pl.concat(found)
        .unique(["_t", "_m"], keep="first", maintain_order=True)
        .collect()
        .with_row_index("_line")
    )
    findings += _check_relations(lines, registry, threshold)
    findings += _linear(lines, registry)
    return list(dict.fromkeys(findings))


def _perturbed(guide: pl.DataFrame) -> bool:
    return "protection" in guide.columns and bool((guide["protection"] == "cell_key").all())


def _reasons(name: str, rows: pl.LazyFrame, reason: str) -> pl.LazyFrame:
    return rows.select(pl.lit(name).alias("_table"), "_where", pl.lit(reason).alias("_reason"))


def _rows(name: str, table: pl.LazyFrame, s: _Structure, threshold: int) -> list[pl.LazyFrame]:
    """Row by row: small counts, and measures that give a suppressed count away (the
    failing rows, with `_where` and `_reason`)."""
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
    # every small count is listed: each one is a disclosure the gate must name
    out = [_reasons(name, table.filter(condition), reason) for condition, reason in checks]
    state = [*FILTERS, *[d for d in s.fixed if d not in FILTERS]]
    at_all = pl.all_horizontal([pl.col(d) == ALL for d in s.categories])
    totals = table.filter(at_all).select(*state, pl.col("count").alias("_total"))
    joined = table.join(totals, on=state, how="left", maintain_order="left")
    wrong = joined.filter(
        pl.col("total").is_not_null()
        & (pl.col("_total").is_null() | (pl.col("total") != pl.col("_total")))
    )
    out.append(_reasons(name, wrong.head(LISTED), "total is not the published total row"))
    return out + _unknown_shares(name, table, s, state)


def _unknown_shares(
    name: str, table: pl.LazyFrame, s: _Structure, state: list[str]
) -> list[pl.LazyFrame]:
    """unknown_share must follow from published rows (inclusion-exclusion)."""
    if not s.categories:
        return []
    at_all = pl.all_horizontal([pl.col(d) == ALL for d in s.categories])
    shares = table.filter(at_all & pl.col("unknown_share").is_not_null()).select(
        *state, "_where", "total", "unknown_share"
    )
    terms = []
    for mask in range(1, 1 << len(s.categories)):
        inside = [d for i, d in enumerate(s.categories) if mask >> i & 1]
        sign = 1 if len(inside) % 2 else -1
        match = pl.all_horizontal(
            [
                pl.col(d) == (s.unknown.get(d, "Unknown") if d in inside else ALL)
                for d in s.categories
            ]
        )
        found = (
            table.filter(match)
            .unique(state, keep="last", maintain_order=True)
            .select(
                *state,
                pl.col("suppressed").fill_null(False).alias("_hidden"),
                (pl.col("count").fill_null(0) * sign).alias("_term"),
            )
        )
        terms.append(
            shares.select(*state)
            .join(found, on=state, how="inner", nulls_equal=True)
            .with_columns(pl.when(pl.col("_hidden")).then(0).otherwise(pl.col("_term")))
        )
    summed = (
        pl.concat(terms)
        .group_by(state)
        .agg(pl.col("_hidden").any().alias("_uses_hidden"), pl.col("_term").sum())
    )
    checked = shares.join(
        summed, on=state, how="left", nulls_equal=True, maintain_order="left"
    ).with_columns(pl.col("_uses_hidden").fill_null(False), pl.col("_term").fill_null(0))
    hidden = checked.filter(pl.col("_uses_hidden"))
    wrong = checked.filter(
        ~pl.col("_uses_hidden")
        & pl.col("total").is_not_null()
        & (pl.col("total") != 0)
        & (((pl.col("_term") / pl.col("total")).clip(0, 1) - pl.col("unknown_share")).abs() > 1e-9)
    )
    return [
        _reasons(name, hidden, "unknown_share uses a suppressed count"),
        _reasons(name, wrong, "unknown_share does not follow from published counts"),
    ]


def _shared(shown: pl.DataFrame) -> list[Finding]:
    """The same count in two tables: published in both or suppressed in both, and equal
    (each later row against the first table, in guide order, that holds the count)."""
    first = shown.unique("_key", keep="first", maintain_order=True).select(
        "_key",
        pl.col("_table").alias("_table0"),
        pl.col("_where").alias("_where0"),
        pl.col("_value").alias("_value0"),
        pl.col("_order").alias("_order0"),
        pl.col("_row").alias("_row0"),
    )
    later = (
        shown.join(first, on="_key")
        .filter((pl.col("_order") != pl.col("_order0")) | (pl.col("_row") != pl.col("_row0")))
        .sort("_order", "_row")
    )
    out = []
    mixed = later.filter(pl.col("_value").is_null() != pl.col("_value0").is_null())
    for row in mixed.iter_rows(named=True):
        hidden, shown = ("", "0") if row["_value"] is None else ("0", "")
        out.append(
            Finding(
                row[f"_table{hidden}"],
                row[f"_where{hidden}"],
                f"suppressed here but published in {row[f'_table{shown}']}",
            )
        )
    differ = later.filter(
        pl.col("_value").is_not_null()
        & pl.col("_value0").is_not_null()
        & (pl.col("_value") != pl.col("_value0"))
    )
    for row in differ.iter_rows(named=True):
        out.append(
            Finding(
                row["_table"], row["_where"], f"differs from the same count in {row['_table0']}"
            )
        )
    return out


def _relations_of(name: str, order: int, keyed: pl.DataFrame, s: _Structure) -> list[pl.LazyFrame]:
    """Every `total = sum of parts` the table shows, by cell: total `_t`, sorted parts
    `_m`, and which table and dimension show it (the first showing names it)."""
    out = []
    rows = keyed.lazy()
    for dim in s.additive:
        others = [d for d in s.dims if d != dim]
        totals = rows.filter(pl.col(dim) == ALL).select(*others, pl.col("_id").alias("_t"))
        parts = (
            rows.filter(pl.col(dim) != ALL).group_by(others).agg(pl.col("_id").sort().alias("_m"))
        )
        joined = totals.join(parts, on=others, how="inner").filter(
            # a country and the same country under its region: one cell, no relation
            ~((pl.col("_m").list.len() == 1) & (pl.col("_m").list.first() == pl.col("_t")))
        )
        out.append(
            joined.select(
                "_t",
                "_m",
                pl.lit(name).alias("_name"),
                pl.lit(f"total over {dim}").alias("_what"),
                pl.lit(order).alias("_order"),
            ).sort("_t", "_m")
        )
    return out


def _check_relations(lines: pl.DataFrame, registry: pl.DataFrame, threshold: int) -> list[Finding]:
    value = registry.select("_id", "_value", "_table", "_where")
    parts = (
        lines.select("_line", pl.col("_m").alias("_id"))
        .explode("_id")
        .join(value, on="_id", how="left")
        .group_by("_line")
        .agg(
            pl.col("_value").is_null().sum().alias("_hidden"),
            pl.col("_value").sum().alias("_published"),
            pl.col("_table").filter(pl.col("_value").is_null()).first().alias("_part_table"),
            pl.col("_where").filter(pl.col("_value").is_null()).first().alias("_part_where"),
        )
    )
    checked = (
        lines.select("_line", "_t", "_name", "_what")
        .join(value.rename({"_id": "_t", "_value": "_total"}), on="_t", how="left")
        .join(parts, on="_line", how="left")
        .sort("_line")
    )
    out = []
    for row in checked.iter_rows(named=True):
        total, hidden, published = row["_total"], row["_hidden"], row["_published"]
        where = f"{row['_where']} ({row['_what']})"
        if total is None:
            if not hidden:
                out.append(
                    Finding(row["_name"], where, "suppressed total = sum of its published parts")
                )
            continue
        if published > total or (not hidden and published != total):
            out.append(Finding(row["_name"], where, "published parts do not add up to the total"))
        elif hidden == 1:
            out.append(
                Finding(
                    row["_part_table"],
                    row["_part_where"],
                    f"only suppressed part of a published total ({row['_what']})",
                )
            )
        elif hidden and 0 < total - published < threshold:
            out.append(
                Finding(row["_name"], where, f"suppressed parts add up to less than {threshold}")
            )
    return out


def _linear(lines: pl.DataFrame, registry: pl.DataFrame, seed: int = 1) -> list[Finding]:
    """Suppressed counts fixed by combining relations: 0 in a random null vector."""
    hidden = registry.filter(pl.col("_value").is_null()).select("_id")
    if not hidden.height:
        return []
    entries = (
        pl.concat(
            [
                lines.select("_line", pl.col("_m").alias("_id"), pl.lit(1).alias("_c")).explode(
                    "_id"
                ),
                lines.select("_line", pl.col("_t").alias("_id"), pl.lit(-1).alias("_c")),
            ]
        )
        .join(hidden, on="_id", how="semi")  # the published counts are constants
        .group_by("_line", "_id")
        .agg(pl.col("_c").sum())
        .filter(pl.col("_c") != 0)
        .sort("_line", "_id")
    )
    equations: dict[int, dict[int, int]] = {}
    for line, unknown, coefficient in zip(
        entries["_line"].to_list(), entries["_id"].to_list(), entries["_c"].to_list(), strict=True
    ):
        equations.setdefault(line, {})[unknown] = coefficient % MODULUS
    vector = _random_null_vector(list(equations.values()), seed)
    fixed = [u for u, v in vector.items() if v == 0]
    named = registry.filter(pl.col("_id").is_in(fixed)).sort("_id")
    return [
        Finding(table, where, "recoverable by combining published totals")
        for table, where in named.select("_table", "_where").iter_rows()
    ]


def _random_null_vector(equations: list[dict[int, int]], seed: int) -> dict[int, int]:
    """x with every equation's sum(coefficient * x) = 0 (mod MODULUS), at random among all
    such x: unknowns left free get random values, the others follow. An unknown that is 0
    is 0 in every solution, i.e. determined by the equations."""
    equations = [e for e in equations if e]
    where: dict[int, set[int]] = {}
    for i, equation in enumerate(equations):
        for u in equation:
            where.setdefault(u, set()).add(i)
    queue = [(len(holding), u) for u, holding in where.items()]
    heapq.heapify(queue)
    solved: dict[int, dict[int, int]] = {}  # unknown -> the equation that gives it
    order: list[int] = []
    while queue:
        n, u = heapq.heappop(queue)
        holding = where[u]
        if u in solved or n != len(holding) or n == 0:
            continue
        chosen = min(holding, key=lambda i: (len(equations[i]), i))
        pivot = equations[chosen]
        for v in pivot:
            where[v].discard(chosen)
        scale = pow(pivot[u], MODULUS - 2, MODULUS)
        _substitute(equations, where, holding, u, scale, pivot)
        holding.clear()
        solved[u] = pivot
        order.append(u)
        for v in pivot:
            if v != u and v not in solved:
                heapq.heappush(queue, (len(where[v]), v))
    free = sorted(u for u in where if u not in solved)
    return _solve_back(solved, order, free, seed)


def _substitute(
    equations: list[dict[int, int]],
    where: dict[int, set[int]],
    holding: set[int],
    u: int,
    scale: int,
    pivot: dict[int, int],
) -> None:
    """Remove unknown `u` from the equations in `holding` with the pivot equation
    (`scale` is the inverse of its coefficient of `u`)."""
    for i in list(holding):
        target = equations[i]
        factor = target.pop(u) * scale % MODULUS
        for v, c in pivot.items():
            if v == u:
                continue
            updated = (target.get(v, 0) - factor * c) % MODULUS
            if updated:
                if v not in target:
                    where[v].add(i)
                target[v] = updated
            elif v in target:
                del target[v]
                where[v].discard(i)


def _solve_back(
    solved: dict[int, dict[int, int]], order: list[int], free: list[int], seed: int
) -> dict[int, int]:
    """Random values for the free unknowns, then the solved ones, last solved first."""
    rng = np.random.default_rng(seed)
    x = dict(zip(free, rng.integers(1, MODULUS, size=len(free)).tolist(), strict=True))
    for u in reversed(order):
        pivot = solved[u]
        rest = sum(c * x[v] for v, c in pivot.items() if v != u)
        x[u] = -rest * pow(pivot[u], MODULUS - 2, MODULUS) % MODULUS
    return x

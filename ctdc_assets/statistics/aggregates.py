"""Aggregate tables on the full merged victims table, before anonymization.

Every table has the same long shape, so one audit and one dashboard read them all:

    year | region | <dimension columns> | count | suppressed | total | share | unknown_share
    (+ `<country>_name` / `<country>_subregion` label columns where a country is a dimension)

- `year` is the registration year as text, `Unknown`, or `All`; `region` is the UN M49
  region of the country of exploitation (`Unknown` when that country is not known) or
  `All`. Every other dimension also has `All` rows: the margins. So a table holds, for
  every year and region (and for all years and regions together), the full table with
  its totals, and the dashboard's filter never needs a count that is not published.
- Multi-response dimensions (means of control, types of exploitation, ...) count the
  people with that value; a person can have several, so their rows do not add up to the
  `All` row, which counts the people in scope. `Not recorded` counts people in scope
  with none of the values recorded.
- `count` is null when `suppressed` (small-cell protection, see `protection.py`);
  `total` is the count of the row with every dimension but year and region at `All`;
  `share` = count / total; `unknown_share` the share of people in the same year and
  region whose value is unknown in at least one of the table's dimensions, computed
  from published counts only (null when one of those is suppressed).
- Zero counts are not listed: a combination that is absent has count 0.

`about_tables` describes every table (dimensions, which are multi-response, which are
nested in which, the threshold and the method); the audit reads the structure there.
The tables' definitions (`table_specs`, `people`, `about_tables`) are in `tables.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from math import fsum
from typing import TYPE_CHECKING

import polars as pl

from ctdc_assets.regions import country_names, un_regions
from ctdc_assets.standard import CELL_RECORD_KEY, Standard, load_standard
from ctdc_assets.statistics.protection import Layout, protect
from ctdc_assets.statistics.tables import (
    ALL,
    DASHBOARD_CELLS,
    GUIDE,
    MEASURES,
    NOT_RECORDED,
    PTABLE,
    REGION,
    UNKNOWN,
    Dimension,
    TableSpec,
    about_tables,
    dashboard_spec,
    input_columns,
    people,
    table_specs,
)

if TYPE_CHECKING:
    from ctdc_assets.statistics.cellkey import CellKeyParams

# The names other modules import from here (the tables' definitions live in `tables`).
__all__ = [
    "ALL",
    "BANDS",
    "DASHBOARD_CELLS",
    "GUIDE",
    "MEASURES",
    "PTABLE",
    "compute_aggregates",
    "compute_with_figures",
    "input_columns",
    "layout",
    "people",
    "protection_figures",
    "table_specs",
]


# --------------------------------------------------------------------------- cubes


def _cube(base: pl.LazyFrame, spec: TableSpec, std: Standard) -> pl.LazyFrame:
    """Counts for every grouping set: each dimension at a value or at `All`.

    The records are grouped once, by every dimension but the multi-response one, counting
    people and, for each value of the multi-response list, the people with that value
    (or none recorded); every grouping set then adds up those counts. So the records are
    read once per table, whatever the number of grouping sets and values."""
    dims = (spec.year, REGION, *spec.dims)
    fixed = [d for d in dims if d.kind == "fixed"]
    free = [d for d in dims if d.kind != "fixed"]
    if spec.scope:
        base = base.filter(pl.col(spec.scope[0]) == 1)
    for d in fixed:
        value = d.value or (spec.scope[1] if spec.scope else ALL)
        base = base.with_columns(pl.lit(value).alias(d.column))
    multi = next((d for d in free if d.kind == "multi"), None)
    by = [*(d.column for d in fixed), *(d.column for d in free if d.kind != "multi")]
    names = base.collect_schema().names()
    flags = (
        [f for f in std.flags_of(spec.multi_list) if f.name in names]
        if multi is not None and spec.multi_list
        else []
    )
    values = {f"_value{i}": f.label for i, f in enumerate(flags)}
    key = pl.col(CELL_RECORD_KEY)
    sums = [(pl.col(f.name) == 1).sum().alias(v) for v, f in zip(values, flags, strict=True)]
    sums += [
        key.filter(pl.col(f.name) == 1).sum().alias(f"_key{v}")
        for v, f in zip(values, flags, strict=True)
    ]
    if multi is not None and flags:
        none = pl.all_horizontal([pl.col(f.name) == -99 for f in flags])
        sums += [none.sum().alias("_nothing"), key.filter(none).sum().alias("_key_nothing")]
    elif multi is not None:
        sums += [pl.len().alias("_nothing"), key.sum().alias("_key_nothing")]
    counted = (
        base.group_by(by)
        .agg(pl.len().alias("count"), key.sum().alias("key_sum"), *sums)
        .with_columns(pl.exclude(by).cast(pl.Int64))
        .cache()
    )
    finest = counted.select(*by, "count", "key_sum")
    finest_multi = None
    if multi is not None:
        values["_nothing"] = NOT_RECORDED
        finest_multi = pl.concat(
            [
                counted.select(
                    *by,
                    pl.lit(label).alias(multi.column),
                    pl.col(v).alias("count"),
                    pl.col(f"_key{v}").alias("key_sum"),
                )
                for v, label in values.items()
            ]
        ).filter(pl.col("count") > 0)  # zero counts are not listed
    multi_column = multi.column if multi is not None else None

    def summed(source: pl.LazyFrame, kept: Collection[str]) -> pl.LazyFrame:
        group = [d.column for d in dims if d.column in kept or d.kind == "fixed"]
        return source.group_by(group).agg(pl.col("count", "key_sum").sum())

    # With `sets`, each crossing is summed from the smallest published crossing that
    # holds it (and is multi-response iff it is) instead of from the finest groups:
    # the same integer sums, from far fewer rows (drill-down cube at 1M records,
    # 1.40 -> 0.80 s, measured with categorical keys).
    nodes: list[tuple[frozenset[str], pl.LazyFrame]] = []
    for top in dict.fromkeys(frozenset(t) for t in spec.sets):
        plain = top - {multi_column}
        nodes.append((plain, summed(finest, plain).cache()))
        if multi_column in top:
            assert finest_multi is not None
            nodes.append((top, summed(finest_multi, top).cache()))
    parts = []
    for keep in itertools.product((True, False), repeat=len(free)):
        kept = {d.column for d, k in zip(free, keep, strict=True) if k}
        if spec.sets and not any(kept <= set(top) for top in spec.sets):
            continue  # a crossing not published (too fine to be useful once protected)
        is_multi = multi_column in kept
        source = finest_multi if is_multi else finest
        held = [n for n in nodes if kept <= n[0] and (multi_column in n[0]) == is_multi]
        if held:
            source = min(held, key=lambda n: len(n[0]))[1]
        assert source is not None
        parts.append(
            summed(source, kept)
            .with_columns([pl.lit(ALL).alias(d.column) for d in free if d.column not in kept])
            .select(*[pl.col(d.column).cast(pl.String) for d in dims], "count", "key_sum")
        )
    return pl.concat(parts)


def layout(spec: TableSpec) -> Layout:
    dims = (spec.year, REGION, *spec.dims)
    return Layout(
        dims=tuple(d.column for d in dims),
        additive=frozenset(d.column for d in dims if d.kind == "additive"),
        parents={d.column: d.parent for d in dims if d.parent},
    )


# --------------------------------------------------------------------------- finishing


def _finish(table: pl.LazyFrame, spec: TableSpec) -> pl.LazyFrame:
    """Add total, share, unknown share (all from published counts) and country labels."""
    dims = (spec.year, REGION, *spec.dims)
    filters = ["year", "region"]
    fixed = [d.column for d in dims if d.kind == "fixed" and d.column not in filters]
    categories = [d for d in dims if d.column not in filters and d.kind != "fixed"]
    at_all = pl.all_horizontal([pl.col(d.column) == ALL for d in categories])
    state = [*filters, *fixed]
    totals = table.filter(at_all).select(*state, pl.col("count").alias("total"))
    unknown = _unknown_counts(table, spec, state, categories)
    out = (
        table.join(totals, on=state, how="left")
        .join(unknown, on=state, how="left")
        .with_columns(
            (pl.col("count") / pl.col("total")).alias("share"),
            pl.when(pl.col("blocked").fill_null(False))
            .then(None)
            .otherwise((pl.col("unknown_count").fill_null(0) / pl.col("total")).clip(0, 1))
            .alias("unknown_share"),
        )
        .drop("unknown_count", "blocked")
    )
    names = country_names()
    subregions = {code: sub for code, (sub, _) in un_regions().items()}
    labels = []
    for column in spec.labels:
        code = pl.col(column)
        labels += [
            pl.when(code == ALL)
            .then(pl.lit(ALL))
            .otherwise(code.replace_strict(names, default=UNKNOWN, return_dtype=pl.String))
            .alias(f"{column}_name"),
            pl.when(code == ALL)
            .then(pl.lit(ALL))
            .otherwise(code.replace_strict(subregions, default=UNKNOWN, return_dtype=pl.String))
            .alias(f"{column}_subregion"),
        ]
    columns = [d.column for d in dims]
    label_columns = [c for column in spec.labels for c in (f"{column}_name", f"{column}_subregion")]
    return (
        out.with_columns(labels)
        .select(*columns, *label_columns, *MEASURES)
        .sort(columns, nulls_last=True)
    )


def _unknown_counts(
    table: pl.LazyFrame, spec: TableSpec, state: list[str], categories: Sequence[Dimension]
) -> pl.LazyFrame:
    """People with an unknown value in at least one dimension, by inclusion-exclusion
    over the published rows; null when a row it needs is suppressed or not published
    (a crossing published for all years only, say)."""
    at_all = pl.all_horizontal([pl.col(d.column) == ALL for d in categories])
    states = table.filter(at_all).select(state)
    terms = []
    for size in range(1, len(categories) + 1):
        for subset in itertools.combinations(categories, size):
            inside = {d.column for d in subset}
            match = pl.all_horizontal(
                [pl.col(d.column) == (d.unknown if d.column in inside else ALL) for d in categories]
            )
            found = table.filter(match).select(
                *state, pl.col("count").alias("term"), pl.lit(True).alias("row")
            )
            published = pl.lit(True)
            if spec.sets:
                published = pl.any_horizontal(
                    [
                        pl.all_horizontal(
                            [pl.lit(True)]
                            + [pl.col(c) == ALL for c in ("year", "region") if c not in top]
                        )
                        for top in spec.sets
                        if inside <= set(top)
                    ]
                    or [pl.lit(False)]
                )
            sign = 1 if size % 2 else -1
            terms.append(
                states.join(found, on=state, how="left").select(
                    *state,
                    pl.when(pl.col("row").is_null() & published)
                    .then(0)
                    .otherwise(pl.col("term") * sign)
                    .alias("term"),
                )
            )
    return (
        pl.concat(terms)
        .group_by(state)
        .agg(
            pl.col("term").sum().alias("unknown_count"),
            pl.col("term").is_null().any().alias("blocked"),
        )
    )


# --------------------------------------------------------------------------- entry point


def compute_aggregates(
    victims: pl.DataFrame, threshold: int, cell_key: CellKeyParams | None = None
) -> dict[str, pl.DataFrame]:
    """The protected aggregate tables (and `about_tables`), by name: perturbed by the
    cell-key method with `cell_key` (its ptable too, as `perturbation_table`; victims
    need their `cell_record_key`), else suppressed."""
    return compute_with_figures(victims, threshold, cell_key)[0]


def compute_with_figures(
    victims: pl.DataFrame, threshold: int, cell_key: CellKeyParams | None = None
) -> tuple[dict[str, pl.DataFrame], dict]:
    """`compute_aggregates`, and what the protection cost (`protection_figures`)."""
    std = load_standard()
    if cell_key is not None and CELL_RECORD_KEY not in victims.columns:
        raise ValueError(f"the cell-key method needs the records' {CELL_RECORD_KEY} column")
    # Grouped on categorical codes, not text: the cubes' group-bys take half the time
    # (1M records: the drill-down's first grouping 0.41 -> 0.21 s).
    base = people(victims, std).with_columns(pl.col(pl.String).cast(pl.Categorical)).lazy()
    specs = table_specs(std)
    drill = dashboard_spec() if cell_key is not None else None
    counted = [*specs, drill] if drill is not None else specs
    cubes = pl.collect_all([_cube(base, spec, std) for spec in counted])
    raw = {spec.name: cube for spec, cube in zip(counted, cubes, strict=True)}
    ptable = None
    # imported here: the audit's recount imports this package and must not see it
    from ctdc_assets.statistics import cellkey

    if cell_key is None:
        protected = protect(
            {n: c.drop("key_sum") for n, c in raw.items()},
            {spec.name: layout(spec) for spec in specs},
            threshold,
        )
    else:
        ptable = cellkey.ptable(cell_key)
        protected = {n: _perturbed(c, ptable, cell_key) for n, c in raw.items()}
    finished = pl.collect_all([_finish(protected[spec.name].lazy(), spec) for spec in specs])
    tables = {spec.name: table for spec, table in zip(specs, finished, strict=True)}
    if drill is not None:
        columns = [d.column for d in (drill.year, REGION, *drill.dims)]
        tables[drill.name] = (
            protected[drill.name]
            .with_columns(
                pl.lit(None, pl.Int64).alias("total"),
                pl.lit(None, pl.Float64).alias("share"),
                pl.lit(None, pl.Float64).alias("unknown_share"),
            )
            .select(*columns, *MEASURES)
            .sort(columns)
        )
        specs = [*specs, drill]
    tables[GUIDE] = about_tables(specs, threshold, cell_key)
    if ptable is not None:
        tables[PTABLE] = ptable
    figures = protection_figures(
        {spec.name: raw[spec.name] for spec in table_specs(std)},
        {spec.name: protected[spec.name] for spec in table_specs(std)},
        [(spec.name, layout(spec).dims) for spec in table_specs(std)],
    )
    return tables, figures


BANDS = ((1, 10, "1-10"), (11, 99, "11-99"), (100, None, "100+"))


def protection_figures(
    true: Mapping[str, pl.DataFrame],
    published: Mapping[str, pl.DataFrame],
    dims: Sequence[tuple[str, Sequence[str]]],
) -> dict:
    """Share of cells withheld, and mean absolute and relative error of the published
    counts by true-count band, over every table's cells (for the manifest and README;
    aggregate figures about the method, no cell's value)."""
    rows = []
    for name, columns in dims:
        shown = published[name].select(*columns, pl.col("count").alias("_shown"), "suppressed")
        rows.append(
            true[name]
            .select(*columns, "count")
            .join(shown, on=list(columns), how="left", nulls_equal=True)
            .select(
                "count",
                pl.col("suppressed").fill_null(False),
                pl.col("_shown").fill_null(0),  # not listed: published as 0
            )
        )
    cells = pl.concat(rows).filter(pl.col("count") > 0)
    out: dict = {
        "cells": cells.height,
        "withheld_share": cells["suppressed"].mean() if cells.height else 0.0,
        "error_by_band": {},
    }
    for low, high, label in BANDS:
        band = cells.filter(
            ~pl.col("suppressed")
            & (pl.col("count") >= low)
            & (pl.lit(True) if high is None else pl.col("count") <= high)
        )
        error = (band["_shown"] - band["count"]).abs()
        out["error_by_band"][label] = {
            "cells_published": band.height,
            "mean_abs_error": float(error.mean()) if band.height else None,  # type: ignore[arg-type]
            # fsum: exact whatever the order the joins left the rows in, so the figure
            # (in the manifest) is the same in every run
            "mean_rel_error": fsum(error / band["count"]) / band.height if band.height else None,
        }
    return out


def _perturbed(cube: pl.DataFrame, ptable: pl.DataFrame, params: CellKeyParams) -> pl.DataFrame:
    """Published counts by the cell-key method; a cell published as 0 is not listed,
    like a true zero (so a listed row never tells that a cell is not empty)."""
    from ctdc_assets.statistics import cellkey

    return (
        cube.with_columns(cellkey.perturb(cube, ptable, params), pl.lit(False).alias("suppressed"))
        .drop("key_sum")
        .filter(pl.col("count") > 0)
    )

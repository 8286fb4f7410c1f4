"""Independent recount of cell-key tables from the records and their cell keys.

`audit_tables` checks what the published tables show; this checks what only the
records can tell: every published count is its cell's true count plus the perturbation
the published ptable gives for (true count, cell key), every cell left out is one the
ptable sends to 0, no true count 1..threshold-1 is published as itself, and a true zero
is never published. It reads the ptable as published and does its own lookup; it never
imports the perturbation code (`cellkey.py`) nor the grouping code (`aggregates.py`):
it counts the people of each published row's conditions itself, from `people()` (what
a dimension means) and `table_specs()` (which list a multi-response dimension is).
Findings name the table, cell and reason, never a true count.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import polars as pl

from ctdc_assets.standard import CELL_RECORD_KEY, Standard, load_standard
from ctdc_assets.statistics.audit import Finding
from ctdc_assets.statistics.tables import (
    ALL,
    DASHBOARD_CELLS,
    GUIDE,
    NOT_RECORDED,
    PTABLE,
    REGION,
    TableSpec,
    dashboard_spec,
    people,
    table_specs,
)

KEY_RANGE = 1 << 32
LISTED = 20  # findings listed per table and reason at most


def audit_recount(victims: pl.DataFrame, tables: Mapping[str, pl.DataFrame]) -> list[Finding]:
    """Every published count that is not true count + ptable(count, cell key)."""
    if CELL_RECORD_KEY not in victims.columns:
        return [Finding("merged", CELL_RECORD_KEY, "missing: cell keys cannot be recomputed")]
    ptable = tables.get(PTABLE)
    if ptable is None:
        return [Finding(PTABLE, "-", "missing: the cell-key tables cannot be checked")]
    guide = tables.get(GUIDE)
    if guide is None or not guide.height:
        return [Finding(GUIDE, "-", "missing")]
    threshold = int(guide["threshold"].min())  # type: ignore[arg-type]
    findings = ptable_findings(ptable, threshold - 1)
    if findings:
        return findings
    std = load_standard()
    base = people(victims, std).with_columns(pl.col(CELL_RECORD_KEY).cast(pl.Int64))
    last = int(ptable["count"].max())  # type: ignore[arg-type]
    lookup = ptable.select(
        pl.col("count").alias("_row"), "key_from", "key_to", "perturbation"
    ).lazy()
    for spec in [*table_specs(std), dashboard_spec()]:
        table = tables.get(spec.name)
        if table is None and spec.name == DASHBOARD_CELLS:
            continue
        if table is None:
            findings.append(Finding(spec.name, "-", "described but not published"))
            continue
        findings += _recount(spec, base, table, lookup, last, threshold, std)
    return findings


def ptable_findings(ptable: pl.DataFrame, js: int) -> list[Finding]:
    """The ptable as published: each count's key intervals tile 0..2^32, zeros stay
    zero, no count goes to 1..js."""
    out = []
    published = ptable["count"] + ptable["perturbation"]
    if ((published >= 1) & (published <= js)).any():
        out.append(Finding(PTABLE, "-", f"sends a count to 1..{js}"))
    if (published < 0).any():
        out.append(Finding(PTABLE, "-", "sends a count below 0"))
    if ptable.filter((pl.col("count") == 0) & (pl.col("perturbation") != 0)).height:
        out.append(Finding(PTABLE, "count=0", "a zero is perturbed"))
    tiles = (
        ptable.sort("count", "key_from")
        .group_by("count", maintain_order=True)
        .agg(
            pl.col("key_from").first().alias("first"),
            pl.col("key_to").last().alias("last"),
            (pl.col("key_from").shift(-1) != pl.col("key_to")).any().alias("gap"),
        )
    )
    bad = tiles.filter((pl.col("first") != 0) | (pl.col("last") != KEY_RANGE) | pl.col("gap"))
    out += [
        Finding(PTABLE, f"count={n}", "its cell-key intervals do not tile 0..2^32")
        for n in bad["count"]
    ]
    counts = set(ptable["count"].to_list())
    if counts != set(range(max(counts) + 1)):
        out.append(Finding(PTABLE, "-", "a count between 0 and its last row is missing"))
    return out


def _long(
    spec: TableSpec, base: pl.DataFrame, std: Standard
) -> tuple[pl.DataFrame, pl.DataFrame, str | None, list[str], list[str]]:
    """The people a table counts (its fixed dimensions set to their value), the same
    with one row per value of its multi-response dimension, that dimension, and the
    table's free and fixed dimensions."""
    dims = (spec.year, REGION, *spec.dims)
    frame = base.filter(pl.col(spec.scope[0]) == 1) if spec.scope else base
    fixed = [d for d in dims if d.kind == "fixed"]
    for d in fixed:
        frame = frame.with_columns(
            pl.lit(d.value or (spec.scope[1] if spec.scope else ALL)).alias(d.column)
        )
    multi = next((d for d in dims if d.kind == "multi"), None)
    long = frame
    if multi is not None and spec.multi_list:
        flags = [f for f in std.flags_of(spec.multi_list) if f.name in frame.columns]
        parts = [
            frame.filter(pl.col(f.name) == 1).with_columns(pl.lit(f.label).alias(multi.column))
            for f in flags
        ]
        none = pl.all_horizontal([pl.col(f.name) == -99 for f in flags]) if flags else pl.lit(True)
        parts.append(frame.filter(none).with_columns(pl.lit(NOT_RECORDED).alias(multi.column)))
        long = pl.concat(parts, how="vertical_relaxed")
    columns = [d.column for d in dims if d.kind != "fixed"]
    return frame, long, multi.column if multi else None, columns, [d.column for d in fixed]


def _recount(
    spec: TableSpec,
    base: pl.DataFrame,
    table: pl.DataFrame,
    lookup: pl.LazyFrame,
    last: int,
    threshold: int,
    std: Standard,
) -> list[Finding]:
    people_, long, multi, free, fixed = _long(spec, base, std)
    shown = table.select(*free, *fixed, pl.col("count").alias("_shown"))
    checked = []
    # every crossing the table publishes (its spec), so a crossing left out is found too
    for keep in itertools.product((True, False), repeat=len(free)):
        pattern = dict(zip(free, keep, strict=True))
        named = [d for d in free if pattern[d]]
        if spec.sets and not any(set(named) <= set(top) for top in spec.sets):
            continue
        rows = shown.filter(
            pl.all_horizontal([pl.lit(True)] + [(pl.col(d) != ALL) == pattern[d] for d in free])
        )
        true = (
            (long if multi in named else people_)
            .group_by(named + fixed)
            .agg(pl.len().cast(pl.Int64).alias("_true"), pl.col(CELL_RECORD_KEY).sum())
            .with_columns(pl.col(named + fixed).cast(pl.String))
            .with_columns([pl.lit(ALL).alias(d) for d in free if d not in named])
        )
        checked.append(
            true.join(rows, on=free + fixed, how="full", coalesce=True).select(
                *free, *fixed, "_true", CELL_RECORD_KEY, "_shown"
            )
        )
    if not checked:
        return []
    cells = pl.concat(checked).with_columns(
        pl.col("_true").fill_null(0),
        (pl.col(CELL_RECORD_KEY).fill_null(0) % KEY_RANGE).alias("_key"),
        pl.int_range(pl.len()).alias("_i"),
    )
    expected = (
        cells.lazy()
        .with_columns(pl.col("_true").clip(upper_bound=last).alias("_row"))
        .join(lookup, on="_row", how="left")
        .filter((pl.col("_key") >= pl.col("key_from")) & (pl.col("_key") < pl.col("key_to")))
        .select("_i", (pl.col("_true") + pl.col("perturbation")).alias("_expected"))
        .collect()
    )
    cells = cells.join(expected, on="_i", how="left").with_columns(
        pl.when(pl.col("_true") == 0).then(0).otherwise(pl.col("_expected")).alias("_expected")
    )
    where = pl.concat_str(
        [pl.lit(f"{d}=") + pl.col(d) for d in free + fixed], separator=", "
    ).alias("_where")
    small = (pl.col("_true") >= 1) & (pl.col("_true") < threshold)
    reasons = [
        ((pl.col("_true") == 0) & pl.col("_shown").is_not_null(), "a true zero is published"),
        (small & (pl.col("_shown") == pl.col("_true")), "a small count is published unperturbed"),
        (
            (pl.col("_true") > 0)
            & pl.col("_shown").is_not_null()
            & (pl.col("_shown") != pl.col("_expected")),
            "published count is not the true count plus the ptable's perturbation",
        ),
        (
            pl.col("_shown").is_null() & (pl.col("_expected") > 0),
            "left out, but the ptable publishes it",
        ),
    ]
    out = []
    for condition, reason in reasons:
        for (cell,) in cells.filter(condition).select(where).head(LISTED).iter_rows():
            out.append(Finding(spec.name, cell, reason))
    return out

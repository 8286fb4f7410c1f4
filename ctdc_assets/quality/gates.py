"""The gate entry points the Dagster checks call: raw, harmonized and merged tables.

Per-contributor choices (the unmapped-share thresholds, whether an inconsistent
`*Concatenated` list blocks or only warns) come from the crosswalk's `quality:`
section and are applied at run time, not baked into the suite (`suites`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ctdc_assets.quality.evaluate import run_suite
from ctdc_assets.quality.gx_executor import GXExecutor
from ctdc_assets.quality.results import GateResult, percent_text, short
from ctdc_assets.quality.suite_model import Severity
from ctdc_assets.quality.suites import EXPECTATIONS_DIR, harmonized_suite, merged_suite

__all__ = [
    "raw_parameters",
    "run_harmonized_gate",
    "run_merged_gate",
    "run_raw_gate",
    "unmapped_table",
]

MIN_ALLOWED_UNMAPPED_ROWS = 5  # small deliveries: a few odd values never block
ROW_COUNT_RATIO = 2.0  # a delivery with under half or over twice the previous rows: warning


def raw_parameters(previous_row_count: int | None) -> dict[str, int]:
    """Row-count window around the previous delivery; empty when there is none."""
    if not previous_row_count:
        return {}
    return {
        "previous_row_count_min": math.floor(previous_row_count / ROW_COUNT_RATIO),
        "previous_row_count_max": math.ceil(previous_row_count * ROW_COUNT_RATIO),
    }


def run_raw_gate(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    contributor: str,
    personal_columns: Collection[str] = (),
    previous_row_count: int | None = None,
    source_file: str | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    gx: GXExecutor | None = None,
) -> GateResult:
    """Gate raw/<contributor> with `expectations/raw/<contributor>.json`.

    `personal_columns`: the crosswalk's `identifiers` (values never shown); `gx`, here
    and in the other gates: the GX worker (`run_suite`).
    """
    return run_suite(
        expectations_dir / "raw" / f"{contributor}.json",
        frame,
        gate=f"raw/{contributor}",
        source_file=source_file,
        personal_columns=personal_columns,
        parameters=raw_parameters(previous_row_count),
        gx=gx,
    )


def unmapped_table(
    unmapped: pl.DataFrame | None,
    harmonized_rows: int,
    *,
    max_share: float,
    max_share_by_variable: Mapping[str, float] | None = None,
    min_allowed_rows: int = MIN_ALLOWED_UNMAPPED_ROWS,
) -> pl.DataFrame:
    """Per variable: rows whose source value was not mapped, and how many the crosswalk allows.

    `unmapped` is `Harmonized.unmapped` (variable, source_column, source_value, rows).
    Allowed = share x harmonized rows, but at least `min_allowed_rows` when the share is
    not zero, so a 40-row test delivery does not fail on one odd value.
    """
    by_variable = dict(max_share_by_variable or {})
    schema = {
        "variable": pl.String,
        "rows": pl.Int64,
        "allowed_rows": pl.Int64,
        "share": pl.Float64,
        "max_share": pl.Float64,
    }
    if unmapped is None or unmapped.height == 0:
        return pl.DataFrame(schema=schema)
    per_var = unmapped.group_by("variable").agg(pl.col("rows").sum().cast(pl.Int64))
    limit = pl.col("variable").replace_strict(
        by_variable, default=max_share, return_dtype=pl.Float64
    )
    allowed = (limit * harmonized_rows).floor().cast(pl.Int64)
    return (
        per_var.with_columns(
            share=pl.col("rows") / max(harmonized_rows, 1),
            max_share=limit,
            allowed_rows=pl.when(limit > 0)
            .then(pl.max_horizontal(allowed, pl.lit(min_allowed_rows)))
            .otherwise(allowed),
        )
        .select(list(schema))
        .sort("variable")
    )


#: Unmapped values listed in the check and the report (most frequent first); all of them
#: are in `ctdc findings`.
LISTED_UNMAPPED_VALUES = 50


def unmapped_listing(
    unmapped: pl.DataFrame, identifiers: Collection[str], allowed: Collection[str]
) -> list[list[str]]:
    """The unmapped values as the UI and the report show them, a header row and one row
    each: column, value (redacted: only `ctdc findings` and the terminal show the
    text), variables, rows, first rows, new or not."""
    if "new" not in unmapped.columns:
        unmapped = unmapped.with_columns(new=pl.lit(None, pl.Boolean))
    # One source value can feed several variables (an age: ageBroad and majorityStatus).
    ordered = (
        unmapped.group_by("source_column", "source_value", maintain_order=True)
        .agg(
            pl.col("variable").unique(maintain_order=True).str.join(", "),
            pl.col("rows", "first_rows", "new").first(),
        )
        .sort(["new", "rows"], descending=[True, True], nulls_last=True, maintain_order=True)
    )
    header = ["source column", "value", "variables", "rows", "first rows", "new"]
    listing = [
        [
            column,
            "(identifier column)" if column in identifiers else short(value, allowed),
            variables,
            f"{rows:,}",
            first or "–",
            "–" if is_new is None else ("new" if is_new else "seen before"),
        ]
        for column, value, variables, rows, first, is_new in ordered.head(
            LISTED_UNMAPPED_VALUES
        ).iter_rows()
    ]
    if ordered.height > LISTED_UNMAPPED_VALUES:
        more = ordered.height - LISTED_UNMAPPED_VALUES
        listing.append([f"… {more:,} more", *[""] * (len(header) - 1)])
    return [header, *listing]


def run_harmonized_gate(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    contributor: str,
    unmapped: pl.DataFrame | None = None,
    crosswalk: Any = None,
    source_file: str | None = None,
    suite: Path | Mapping[str, Any] | None = None,
    chunk_rows: int | None = None,
    gx: GXExecutor | None = None,
) -> GateResult:
    """Gate harmonized/<contributor>: the generated suite plus the crosswalk's thresholds.

    `crosswalk` (a `Crosswalk`) supplies `quality.max_unmapped_share[_by_variable]` and
    `quality.list_consistency` ("warning" turns inconsistent `*Concatenated` lists
    into warnings); without it the defaults block.
    """
    quality = getattr(crosswalk, "quality", None)
    max_share = getattr(quality, "max_unmapped_share", 0.02)
    by_variable = getattr(quality, "max_unmapped_share_by_variable", {}) or {}
    overrides: dict[str, Severity] = {}
    if getattr(quality, "list_consistency", "error") == "warning":
        overrides["*.consistent_with_flags"] = "warning"
    lazy = frame.lazy()
    rows = lazy.select(pl.len()).collect().item()
    table = unmapped_table(unmapped, rows, max_share=max_share, max_share_by_variable=by_variable)
    result = run_suite(
        suite if suite is not None else harmonized_suite(),
        lazy,
        gate=f"harmonized/{contributor}",
        source_file=source_file,
        severity_overrides=overrides,
        tables={"unmapped": table},
        chunk_rows=chunk_rows,
        known_words=crosswalk.known_columns() if crosswalk is not None else (),
        gx=gx,
    )
    if unmapped is not None and unmapped.height:
        identifiers = set(getattr(crosswalk, "identifiers", ()))
        allowed = crosswalk.known_columns() if crosswalk is not None else ()
        result.listings["unmapped values"] = unmapped_listing(unmapped, identifiers, allowed)
    result.notes += [
        f"{var}: {n:,} of {rows:,} rows ({percent_text(100 * share)}) had a source value "
        f"the crosswalk could not map, recorded as missing (limit {percent_text(100 * limit)})"
        for var, n, _, share, limit in table.iter_rows()
    ]
    return result


def run_merged_gate(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    harmonized_counts: Mapping[str, int],
    gate: str = "merged/victims",
    suite: Path | Mapping[str, Any] | None = None,
    chunk_rows: int | None = None,
    gx: GXExecutor | None = None,
) -> GateResult:
    """Gate merged/victims: `harmonized_counts` = rows of each harmonized/<contributor>."""
    counts = {k: int(v) for k, v in harmonized_counts.items()}
    return run_suite(
        suite if suite is not None else merged_suite(),
        frame,
        gate=gate,
        parameters={
            "harmonized_counts": counts,
            "contributors": sorted(k for k, v in counts.items() if v > 0),
        },
        chunk_rows=chunk_rows,
        gx=gx,
    )

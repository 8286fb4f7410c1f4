"""Suites generated from the standard, and the gate entry points the Dagster checks call.

The harmonized and merged suites are derived from `standard.yaml`, so they cannot
drift from the codebook; `expectations/harmonized.json` and `expectations/merged.json`
are committed copies for people to read (a test keeps them equal to what this module
generates; `python -m ctdc_assets.quality.suites` rewrites them). Raw suites are
written by hand, one per delivery shape, under `expectations/raw/`.

Per-contributor choices (the unmapped-share thresholds, whether an inconsistent
`*Concatenated` list blocks or only warns) come from the crosswalk's `quality:`
section and are applied at run time, not baked into the suite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ctdc_assets.quality.bridge import (
    IDENTIFIER_PATTERNS,
    GateResult,
    Severity,
    percent_text,
    run_suite,
)
from ctdc_assets.standard import CELL_RECORD_KEY, Standard, load_standard

__all__ = [
    "EXPECTATIONS_DIR",
    "GENERATED_SUITES",
    "harmonized_suite",
    "merged_suite",
    "raw_parameters",
    "raw_standard_suite",
    "run_harmonized_gate",
    "run_merged_gate",
    "run_raw_gate",
    "unmapped_table",
    "write_generated_suites",
]

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
MIN_ALLOWED_UNMAPPED_ROWS = 5  # small deliveries: a few odd values never block
ROW_COUNT_RATIO = 2.0  # a delivery with under half or over twice the previous rows: warning

_PANDAS_INT = {"flag", "year"}


def _typed_values(std: Standard, name: str) -> list[Any]:
    """A variable's allowed values as the harmonized table holds them (ints for flags, years)."""
    values = std.allowed_values(name)
    if std.variable(name).type in _PANDAS_INT:
        return sorted(int(v) for v in values)
    return sorted(values)


def _exp(
    type_: str,
    severity: Severity,
    description: str,
    id_: str,
    /,
    meta: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    return {
        "type": type_,
        "kwargs": kwargs,
        "severity": severity,
        "description": description,
        "meta": {"id": id_, **(meta or {})},
    }


def _list_derivations(std: Standard) -> list[dict[str, Any]]:
    derived = []
    for var in std.of_type("list"):
        sep = var.separator or ";"
        derived += [
            {
                "name": f"{var.name}__labels",
                "function": "normalized_labels",
                "args": {
                    "column": var.name,
                    "separator": sep,
                    "variants": var.accepted_variants or {},
                    "missing": std.missing_code,
                },
            },
            {
                "name": f"{var.name}__from_flags",
                "function": "labels_from_flags",
                "args": {"flags": {f.name: f.label for f in std.flags_of(var.name)}},
            },
            {
                "name": f"{var.name}__unknown",
                "function": "unknown_labels",
                "args": {
                    "column": var.name,
                    "separator": sep,
                    "labels": sorted(std.list_labels(var.name)),
                    "missing": std.missing_code,
                },
            },
        ]
    return derived


def _flag_derivation(std: Standard) -> dict[str, Any]:
    return {
        "name": "__flags_outside__",
        "function": "values_outside",
        "args": {"columns": [v.name for v in std.of_type("flag")], "allowed": [0, 1, -99]},
    }


def _value_expectations(std: Standard, *, types: Collection[str]) -> list[dict[str, Any]]:
    """Values in their sets (closed variables) and known labels (list variables).

    The flags share one set, so one expectation on a derived column covers all of them.
    """
    out = []
    if "flag" in types:
        out.append(
            _exp(
                "expect_column_values_to_be_null",
                "critical",
                "has a flag other than 0, 1 or -99",
                "flags.in_set",
                meta={"columns": ["(flags)"], "columns_from_values": True},
                column="__flags_outside__",
            )
        )
    for var in std.variables:
        if var.type == "flag":
            continue
        if var.type == "list":
            if "list" in types:
                out.append(
                    _exp(
                        "expect_column_values_to_be_null",
                        "critical",
                        "has labels that are not in the standard",
                        f"{var.name}.known_labels",
                        meta={"columns": [var.name]},
                        column=f"{var.name}__unknown",
                    )
                )
        elif var.type in types:
            out.append(
                _exp(
                    "expect_column_values_to_be_in_set",
                    "critical",
                    "not a value of the standard",
                    f"{var.name}.in_set",
                    column=var.name,
                    value_set=_typed_values(std, var.name),
                )
            )
    return out


def _majority_derivations(std: Standard) -> list[dict[str, Any]]:
    """Majority implied by the age band, and majorityStatus when it says Minor or Adult."""
    implied = {
        band.code: (band.model_extra or {})["majority"]
        for band in std.variable("ageBroad").values or []
    }
    known = sorted(set(implied.values()))
    return [
        {
            "name": "ageBroad__majority",
            "function": "map_values",
            "args": {"column": "ageBroad", "mapping": implied},
        },
        {
            "name": "majorityStatus__known",
            "function": "map_values",
            "args": {"column": "majorityStatus", "mapping": {k: k for k in known}},
        },
    ]


def harmonized_suite(std: Standard | None = None) -> dict[str, Any]:
    """The harmonized gate, from the standard: columns, types, value sets, consistency."""
    std = std or load_standard()
    columns = std.columns + std.internal_columns
    schema = std.polars_schema(internal=True)
    expectations = [
        _exp(
            "expect_table_columns_to_match_set",
            "critical",
            "columns are exactly the standard's (no identifier or source column)",
            "table.columns",
            column_set=columns,
            exact_match=True,
        ),
        _exp(
            "expect_column_pair_values_to_be_in_set",
            "critical",
            "has a type other than the standard's",
            "table.types",
            meta={"table": "schema", "columns_from_rows": True},
            column_A="column",
            column_B="dtype",
            value_pairs_set=[[c, t.__name__] for c, t in schema.items()],
            ignore_row_if="neither",
        ),
        _exp(
            "expect_table_row_count_to_be_between",
            "critical",
            "has no rows",
            "table.rows",
            min_value=1,
        ),
        _exp(
            "expect_column_values_to_be_null",
            "critical",
            "are empty (the standard's missing code is -99, never blank)",
            "table.no_nulls",
            meta={"columns": ["(standard columns)"], "columns_from_values": True},
            column="__null_columns__",
        ),
        _exp(
            "expect_column_values_to_not_be_null",
            "critical",
            "has no record key",
            "record_key.present",
            column="record_key",
        ),
        _exp(
            "expect_column_values_to_be_unique",
            "critical",
            "record key is duplicated",
            "record_key.unique",
            column="record_key",
        ),
        *_value_expectations(
            std, types={"flag", "year", "category", "age_band", "country", "list"}
        ),
    ]
    for var in std.of_type("list"):
        expectations.append(
            _exp(
                "expect_column_pair_values_to_be_equal",
                "critical",
                "lists labels other than those of its flags set to 1",
                f"{var.name}.consistent_with_flags",
                meta={"columns": [var.name]},
                column_A=f"{var.name}__labels",
                column_B=f"{var.name}__from_flags",
                ignore_row_if="neither",
            )
        )
    expectations += [
        _exp(
            "expect_column_pair_values_to_be_equal",
            "critical",
            "contradicts the majority implied by ageBroad",
            "majorityStatus.consistent_with_ageBroad",
            meta={"columns": ["majorityStatus", "ageBroad"]},
            column_A="majorityStatus__known",
            column_B="ageBroad__majority",
            ignore_row_if="either_value_is_missing",
        ),
        _exp(
            "expect_column_pair_values_a_to_be_greater_than_b",
            "critical",
            "has more unmapped source values than the crosswalk's quality.max_unmapped_share "
            "allows",
            "unmapped.share",
            meta={"table": "unmapped", "columns_from_rows": True},
            column_A="allowed_rows",
            column_B="rows",
            or_equal=True,
        ),
        _exp(  # below the share limit an unmapped value still never passes in silence
            "expect_column_values_to_be_between",
            "warning",
            "has source values the crosswalk could not map, recorded as missing "
            "(`ctdc findings` lists them)",
            "unmapped.any",
            meta={"table": "unmapped", "columns_from_rows": True},
            column="rows",
            max_value=0,
        ),
    ]
    derived = [
        {
            "name": "__null_columns__",
            "function": "null_columns",
            "args": {"columns": [*std.columns, "contributor"]},
        },
        _flag_derivation(std),
        *_list_derivations(std),
        *_majority_derivations(std),
    ]
    return {
        "name": "harmonized",
        "meta": {
            "ctdc": {
                "generated_from": f"ctdc_assets/standard.yaml ({std.name} {std.version})",
                "description": "Gate of every harmonized/<contributor> table.",
                "derived_columns": derived,
                "tables": {"unmapped": {"row_column": "variable", "row_label": "variables"}},
            }
        },
        "expectations": expectations,
    }


def merged_suite(std: Standard | None = None) -> dict[str, Any]:
    """The merged gate: unique record keys, reconciled counts, nothing that looks personal."""
    std = std or load_standard()
    columns = [*std.columns, *std.internal_columns, CELL_RECORD_KEY]
    # Closed columns can only hold codebook values (in-set above); lists are built from
    # labels, and the contributor column from crosswalk names: look for identifiers there.
    text_columns = [v.name for v in std.of_type("list")] + ["contributor"]
    regexes = list(IDENTIFIER_PATTERNS.values())
    expectations = [
        _exp(
            "expect_table_columns_to_match_set",
            "critical",
            "columns are exactly the standard's (no identifier or source column)",
            "table.columns",
            column_set=columns,
            exact_match=True,
        ),
        _exp(
            "expect_table_row_count_to_be_between",
            "critical",
            "has no rows",
            "table.rows",
            min_value=1,
        ),
        _exp(
            "expect_column_values_to_not_be_null",
            "critical",
            "has no record key",
            "record_key.present",
            column="record_key",
        ),
        _exp(
            "expect_column_values_to_be_unique",
            "critical",
            "record key is duplicated",
            "record_key.unique",
            column="record_key",
        ),
        # Format checks on derived length / leftover characters: one distinct value each,
        # where a regex would make GX look at every (distinct) key.
        _exp(
            "expect_column_values_to_be_in_set",
            "critical",
            "record key is not 64 characters long (an HMAC-SHA256 in hex)",
            "record_key.length",
            meta={"columns": ["record_key"]},
            column="record_key__length",
            value_set=[64],
        ),
        _exp(
            "expect_column_values_to_be_null",
            "critical",
            "record key has characters other than hex digits",
            "record_key.hex",
            meta={"columns": ["record_key"], "personal": True},
            column="record_key__not_hex",
        ),
        _exp(
            "expect_column_distinct_values_to_contain_set",
            "critical",
            "a contributor with harmonized rows is missing from the merged table",
            "contributor.all_present",
            column="contributor",
            value_set={"$PARAMETER": "contributors"},
        ),
        _exp(
            "expect_column_pair_values_to_be_equal",
            "critical",
            "merged rows of the contributor differ from its harmonized rows",
            "contributor.counts_reconcile",
            meta={"columns": ["contributor"]},
            column_A="contributor__rows",
            column_B="contributor__harmonized_rows",
            ignore_row_if="neither",
        ),
        *_value_expectations(std, types={"category", "age_band", "country", "list"}),
    ]
    for name in text_columns:
        expectations.append(
            _exp(
                "expect_column_values_to_not_match_regex_list",
                "critical",
                "looks like an identifier (e-mail, phone number, date or canary)",
                f"{name}.no_identifiers",
                meta={"personal": True},
                column=name,
                regex_list=regexes,
            )
        )
    derived = [
        {"name": "record_key__length", "function": "length", "args": {"column": "record_key"}},
        {
            "name": "record_key__not_hex",
            "function": "characters_outside",
            "args": {"column": "record_key", "characters": "0-9a-f"},
        },
        *[d for d in _list_derivations(std) if d["name"].endswith("__unknown")],
        {"name": "contributor__rows", "function": "count_by", "args": {"column": "contributor"}},
        {
            "name": "contributor__harmonized_rows",
            "function": "lookup_parameter",
            "args": {"column": "contributor", "parameter": {"$PARAMETER": "harmonized_counts"}},
        },
    ]
    return {
        "name": "merged",
        "meta": {
            "ctdc": {
                "generated_from": f"ctdc_assets/standard.yaml ({std.name} {std.version})",
                "description": "Gate of merged/victims: the union of the harmonized tables.",
                "derived_columns": derived,
            }
        },
        "expectations": expectations,
    }


def raw_standard_suite(std: Standard | None = None) -> dict[str, Any]:
    """Raw gate of a delivery already in the published standard (`ctdc_standard`).

    Generated, because its columns are the standard's; values are left to the
    harmonized gate (the identity crosswalk counts anything outside the sets).
    """
    std = std or load_standard()
    return {
        "name": "raw/ctdc_standard",
        "meta": {
            "ctdc": {
                "gate": "raw/ctdc_standard",
                "generated_from": f"ctdc_assets/standard.yaml ({std.name} {std.version})",
                "description": "Delivery already in the CTDC standard (published 2020 CSV format).",
                "derived_columns": [
                    {
                        "name": "yearOfRegistration__year",
                        "function": "year_of",
                        "args": {"column": "yearOfRegistration", "formats": ["%Y"]},
                    }
                ],
            }
        },
        "expectations": [
            _exp(
                "expect_table_columns_to_match_set",
                "critical",
                "a column of the standard is missing",
                "table.columns",
                column_set=std.columns,
                exact_match=False,
            ),
            _exp(
                "expect_table_row_count_to_be_between",
                "critical",
                "the delivery has no rows",
                "table.rows",
                min_value=1,
            ),
            _exp(
                "expect_table_row_count_to_be_between",
                "warning",
                "row count is less than half or more than twice the previous delivery's",
                "table.rows_vs_previous",
                meta={"skip_note": "no previous delivery to compare with"},
                min_value={"$PARAMETER": "previous_row_count_min"},
                max_value={"$PARAMETER": "previous_row_count_max"},
            ),
            _exp(
                "expect_column_values_to_match_regex",
                "critical",
                f"is not a four-digit year or {std.missing_code}",
                "yearOfRegistration.format",
                column="yearOfRegistration",
                regex=rf"^\s*(?:[0-9]{{4}}|{std.missing_code})\s*$",
            ),
            _exp(
                "expect_column_values_to_be_between",
                "critical",
                "is not between 1990 and this year",
                "yearOfRegistration.range",
                column="yearOfRegistration__year",
                min_value=1990,
                max_value={"$PARAMETER": "current_year"},
            ),
        ],
    }


GENERATED_SUITES = {
    "harmonized.json": harmonized_suite,
    "merged.json": merged_suite,
    "raw/ctdc_standard.json": raw_standard_suite,
}


def suite_json(suite: Mapping[str, Any]) -> str:
    """How suites are written: indented, with short lists of scalars kept on one line."""
    return _dump(suite, 0) + "\n"


def _dump(value: Any, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{json.dumps(k)}: {_dump(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        flat = json.dumps(value, ensure_ascii=False)
        if len(flat) + len(inner) <= 100 and not any(isinstance(v, Mapping) for v in value):
            return flat
        return "[\n" + ",\n".join(f"{inner}{_dump(v, level + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def write_generated_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    """Rewrite the committed copies of the generated suites."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in GENERATED_SUITES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(suite_json(make()), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- gates


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
) -> GateResult:
    """Gate raw/<contributor> with `expectations/raw/<contributor>.json`.

    `personal_columns`: the crosswalk's `identifiers` (values never shown).
    """
    return run_suite(
        expectations_dir / "raw" / f"{contributor}.json",
        frame,
        gate=f"raw/{contributor}",
        source_file=source_file,
        personal_columns=personal_columns,
        parameters=raw_parameters(previous_row_count),
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


def run_harmonized_gate(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    contributor: str,
    unmapped: pl.DataFrame | None = None,
    crosswalk: Any = None,
    source_file: str | None = None,
    suite: Path | Mapping[str, Any] | None = None,
    chunk_rows: int | None = None,
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
    )
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
    )


if __name__ == "__main__":
    for written in write_generated_suites():
        print(written)

"""Suites generated from the standard (the gates that run them: `gates`).

The harmonized and merged suites are derived from `standard.yaml`, so they cannot
drift from the codebook; `expectations/harmonized.json` and `expectations/merged.json`
are committed copies for people to read (a test keeps them equal to what this module
generates; `python -m ctdc_assets.quality.suites` rewrites them). Raw suites are
written by hand, one per delivery shape, under `expectations/raw/`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ctdc_assets.quality.derivations import harmonized_derivations, merged_derivations
from ctdc_assets.quality.suite_model import Severity
from ctdc_assets.standard import CELL_RECORD_KEY, Standard, load_standard

__all__ = [
    "EXPECTATIONS_DIR",
    "GENERATED_SUITES",
    "IDENTIFIER_PATTERNS",
    "harmonized_suite",
    "merged_suite",
    "raw_standard_suite",
    "write_generated_suites",
]

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"

# What the identifier gates look for inside values (shown values follow `redaction`).
IDENTIFIER_PATTERNS: dict[str, str] = {
    "e-mail": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone number": r"\+?\d[\d\s().-]{5,}\d",
    "date": r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b",
    "canary": r"[Cc][Aa][Nn][Aa][Rr][Yy]",
}

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


def _table_columns(columns: list[str]) -> dict[str, Any]:
    return _exp(
        "expect_table_columns_to_match_set",
        "critical",
        "columns are exactly the standard's (no identifier or source column)",
        "table.columns",
        column_set=columns,
        exact_match=True,
    )


def _has_rows(description: str = "has no rows") -> dict[str, Any]:
    return _exp(
        "expect_table_row_count_to_be_between",
        "critical",
        description,
        "table.rows",
        min_value=1,
    )


def _record_key_expectations() -> list[dict[str, Any]]:
    """Every record has a key, and no two the same."""
    return [
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
    ]


def _ctdc_meta(std: Standard, description: str, derived: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "generated_from": f"ctdc_assets/standard.yaml ({std.name} {std.version})",
        "description": description,
        "derived_columns": derived,
    }


def harmonized_suite(std: Standard | None = None) -> dict[str, Any]:
    """The harmonized gate, from the standard: columns, types, value sets, consistency."""
    std = std or load_standard()
    schema = std.polars_schema(internal=True)
    expectations = [
        _table_columns(std.columns + std.internal_columns),
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
        _has_rows(),
        _exp(
            "expect_column_values_to_be_null",
            "critical",
            "are empty (the standard's missing code is -99, never blank)",
            "table.no_nulls",
            meta={"columns": ["(standard columns)"], "columns_from_values": True},
            column="__null_columns__",
        ),
        *_record_key_expectations(),
        *_value_expectations(
            std, types={"flag", "year", "category", "age_band", "country", "list"}
        ),
        *_consistency_expectations(std),
        *_unmapped_expectations(),
    ]
    derived = harmonized_derivations(std)
    meta = _ctdc_meta(std, "Gate of every harmonized/<contributor> table.", derived)
    meta["tables"] = {"unmapped": {"row_column": "variable", "row_label": "variables"}}
    return {"name": "harmonized", "meta": {"ctdc": meta}, "expectations": expectations}


def _consistency_expectations(std: Standard) -> list[dict[str, Any]]:
    """Lists agree with their flags, majorityStatus with the age band."""
    out = [
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
        for var in std.of_type("list")
    ]
    out.append(
        _exp(
            "expect_column_pair_values_to_be_equal",
            "critical",
            "contradicts the majority implied by ageBroad",
            "majorityStatus.consistent_with_ageBroad",
            meta={"columns": ["majorityStatus", "ageBroad"]},
            column_A="majorityStatus__known",
            column_B="ageBroad__majority",
            ignore_row_if="either_value_is_missing",
        )
    )
    return out


def _unmapped_expectations() -> list[dict[str, Any]]:
    """On the `unmapped` side table: within the crosswalk's share, and never in silence."""
    return [
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


def merged_suite(std: Standard | None = None) -> dict[str, Any]:
    """The merged gate: unique record keys, reconciled counts, nothing that looks personal."""
    std = std or load_standard()
    expectations = [
        _table_columns([*std.columns, *std.internal_columns, CELL_RECORD_KEY]),
        _has_rows(),
        *_record_key_expectations(),
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
        *_reconciliation_expectations(),
        *_value_expectations(std, types={"category", "age_band", "country", "list"}),
        *_identifier_expectations(std),
    ]
    derived = merged_derivations(std)
    description = "Gate of merged/victims: the union of the harmonized tables."
    return {
        "name": "merged",
        "meta": {"ctdc": _ctdc_meta(std, description, derived)},
        "expectations": expectations,
    }


def _reconciliation_expectations() -> list[dict[str, Any]]:
    """Every contributor with harmonized rows is there, with as many rows."""
    return [
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
    ]


def _identifier_expectations(std: Standard) -> list[dict[str, Any]]:
    """No value that looks like an identifier (`IDENTIFIER_PATTERNS`) in a text column.

    Closed columns can only hold codebook values (in-set); lists are built from labels,
    and the contributor column from crosswalk names: look for identifiers there.
    """
    text_columns = [v.name for v in std.of_type("list")] + ["contributor"]
    return [
        _exp(
            "expect_column_values_to_not_match_regex_list",
            "critical",
            "looks like an identifier (e-mail, phone number, date or canary)",
            f"{name}.no_identifiers",
            meta={"personal": True},
            column=name,
            regex_list=list(IDENTIFIER_PATTERNS.values()),
        )
        for name in text_columns
    ]


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
            _has_rows("the delivery has no rows"),
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


if __name__ == "__main__":
    for written in write_generated_suites():
        print(written)

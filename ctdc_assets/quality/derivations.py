"""The derived columns the generated suites check, declared from the standard.

A suite names them in `meta.ctdc.derived_columns` (function and arguments, see
`derive`); the gate computes them per chunk before GX judges their values.
"""

from __future__ import annotations

from typing import Any

from ctdc_assets.standard import Standard

__all__ = ["harmonized_derivations", "merged_derivations"]


def harmonized_derivations(std: Standard) -> list[dict[str, Any]]:
    """The harmonized suite's: empty columns, odd flags, lists, majority."""
    return [
        {
            "name": "__null_columns__",
            "function": "null_columns",
            "args": {"columns": [*std.columns, "contributor"]},
        },
        _flag_derivation(std),
        *_list_derivations(std),
        *_majority_derivations(std),
    ]


def merged_derivations(std: Standard) -> list[dict[str, Any]]:
    """The merged suite's: record key format, unknown labels, rows per contributor."""
    return [
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

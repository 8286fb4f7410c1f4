"""Derived columns a suite may ask for, computed in Polars before Great Expectations runs.

Some rules compare a value with something computed from other columns (a
`*Concatenated` list with its flags, `majorityStatus` with the majority implied by
`ageBroad`, a date with a plausible year). GX has no vectorised expectation for
those, so a suite declares the derived column in its `meta.ctdc.derived_columns`
and validates it with a plain GX expectation (pair equality, to-be-null, between).

Each entry is `{"name": ..., "function": ..., "args": {...}}`; the functions below
are the whole vocabulary, so a suite can never run arbitrary code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

__all__ = [
    "DERIVATIONS",
    "TABLE_WISE",
    "VALUE_WISE",
    "DerivationError",
    "derived_expr",
    "source_columns",
]


class DerivationError(ValueError):
    """A suite declares a derived column the bridge cannot compute."""


def _as_text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


def _split_labels(column: str, separator: str) -> pl.Expr:
    return _as_text(column).str.split(separator.strip()).list.eval(pl.element().str.strip_chars())


def labels_from_flags(*, flags: Mapping[str, str], separator: str = "; ") -> pl.Expr:
    """The labels of the flags set to 1, sorted and joined: what the list column should say."""
    ordered = sorted(flags.items(), key=lambda item: item[1])
    parts = [pl.when(pl.col(flag) == 1).then(pl.lit(label)) for flag, label in ordered]
    return pl.concat_str(parts, separator=separator, ignore_nulls=True)


def normalized_labels(
    *,
    column: str,
    separator: str,
    variants: Mapping[str, str] | None = None,
    missing: str = "-99",
    joiner: str = "; ",
) -> pl.Expr:
    """A list column's labels as a sorted set (historical spellings mapped), '' when missing."""
    labels = _split_labels(column, separator)
    if variants:
        labels = labels.list.eval(pl.element().replace(dict(variants)))
    joined = labels.list.unique().list.sort().list.join(joiner)
    return pl.when(_as_text(column) == missing).then(pl.lit("")).otherwise(joined)


def unknown_labels(
    *, column: str, separator: str, labels: list[str], missing: str = "-99"
) -> pl.Expr:
    """Labels of a list column that the standard does not know; null when there are none."""
    unknown = (
        _split_labels(column, separator)
        .list.eval(pl.element().filter(~pl.element().is_in(labels)))
        .list.join("; ")
    )
    return (
        pl.when((_as_text(column) == missing) | (unknown == ""))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(unknown)
    )


def map_values(*, column: str, mapping: Mapping[str, Any]) -> pl.Expr:
    """Look a value up in a fixed mapping (e.g. age band -> majority); null when absent."""
    return _as_text(column).replace_strict(dict(mapping), default=None)


def year_of(*, column: str, formats: list[str]) -> pl.Expr:
    """Year of a date written as text in one of `formats`; null when blank or unparseable."""
    text = _as_text(column).str.strip_chars()
    parsed = [text.str.strptime(pl.Date, fmt, strict=False) for fmt in formats]
    return pl.coalesce(parsed).dt.year().cast(pl.Int32)


def days_after_today(*, column: str, formats: list[str]) -> pl.Expr:
    """Days a date written as text lies after today (a positive number: not possible yet)."""
    text = _as_text(column).str.strip_chars()
    parsed = pl.coalesce([text.str.strptime(pl.Date, fmt, strict=False) for fmt in formats])
    return (parsed - pl.lit(dt.date.today())).dt.total_days().cast(pl.Int32)


def null_columns(*, columns: list[str]) -> pl.Expr:
    """Names of the listed columns that are null in this row; null when none is.

    One expectation on this column replaces one not-null expectation per column.
    """
    any_null = pl.any_horizontal([pl.col(c).is_null() for c in columns])
    names = [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in columns]
    return pl.when(any_null).then(pl.concat_str(names, separator=", ", ignore_nulls=True))


def values_outside(*, columns: list[str], allowed: list[Any]) -> pl.Expr:
    """`column=value` for each listed column whose value is not allowed; null when all are.

    One expectation on this column replaces one in-set expectation per column (the 47
    flags share {0, 1, -99}); nulls are left to the null check.
    """
    bad = [pl.col(c).is_not_null() & ~pl.col(c).is_in(allowed) for c in columns]
    parts = [
        pl.when(b).then(pl.lit(f"{c}=") + pl.col(c).cast(pl.String))
        for c, b in zip(columns, bad, strict=True)
    ]
    return pl.when(pl.any_horizontal(bad)).then(
        pl.concat_str(parts, separator=", ", ignore_nulls=True)
    )


def length(*, column: str) -> pl.Expr:
    """Number of characters of a text value."""
    return _as_text(column).str.len_chars().cast(pl.Int64)


def characters_outside(*, column: str, characters: str) -> pl.Expr:
    """The value when it holds characters outside a regex class (e.g. `0-9a-f`); else null."""
    text = _as_text(column)
    return pl.when(text.str.contains(f"[^{characters}]")).then(text)


def count_by(*, column: str) -> pl.Expr:
    """How many rows share this row's value of `column`."""
    return pl.len().over(column).cast(pl.Int64)


def lookup_parameter(*, column: str, parameter: Mapping[str, Any]) -> pl.Expr:
    """Look a value up in a run-time parameter (e.g. harmonized row counts by contributor)."""
    return _as_text(column).replace_strict(
        {str(k): v for k, v in parameter.items()}, default=None, return_dtype=pl.Int64
    )


#: Costly functions whose result depends only on the value of their one column, which
#: has few distinct values: the bridge computes them once per distinct value and joins
#: the result back (list splitting on 10M rows would take minutes).
VALUE_WISE = {
    "normalized_labels",
    "unknown_labels",
    "map_values",
    "year_of",
    "days_after_today",
    "lookup_parameter",
}
#: Functions that need the whole table (counts): computed once, before chunking.
TABLE_WISE = {"count_by"}

DERIVATIONS: dict[str, Callable[..., pl.Expr]] = {
    "labels_from_flags": labels_from_flags,
    "normalized_labels": normalized_labels,
    "unknown_labels": unknown_labels,
    "map_values": map_values,
    "year_of": year_of,
    "days_after_today": days_after_today,
    "null_columns": null_columns,
    "values_outside": values_outside,
    "length": length,
    "characters_outside": characters_outside,
    "count_by": count_by,
    "lookup_parameter": lookup_parameter,
}


def source_columns(spec: Mapping[str, Any]) -> list[str]:
    """The frame columns a derived column reads (to check they exist and inherit privacy)."""
    args = spec.get("args", {})
    columns = [args["column"]] if "column" in args else []
    return columns + list(args.get("flags", {})) + list(args.get("columns", []))


def derived_expr(spec: Mapping[str, Any], parameters: Mapping[str, Any]) -> pl.Expr:
    """The Polars expression of one declared derived column.

    Arguments written as `{"$PARAMETER": name}` are replaced with run-time parameters.
    """
    name, function = spec.get("name"), spec.get("function")
    if function not in DERIVATIONS:
        known = ", ".join(sorted(DERIVATIONS))
        raise DerivationError(f"derived column {name!r}: unknown function {function!r} ({known})")
    args = {}
    for key, value in spec.get("args", {}).items():
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            if value["$PARAMETER"] not in parameters:
                raise DerivationError(
                    f"derived column {name!r} needs the run-time parameter "
                    f"{value['$PARAMETER']!r}, which was not given"
                )
            value = parameters[value["$PARAMETER"]]
        args[key] = value
    try:
        return DERIVATIONS[function](**args).alias(name)
    except TypeError as error:
        raise DerivationError(f"derived column {name!r}: {error}") from error

"""GX's verdicts on a prepared table, told as `Outcome`s of its rows.

GX judged distinct values (`prepare`); here each verdict becomes row counts, the
share of rows GX would have looked at, `mostly`, first row numbers and sample values
(none for personal columns, the others redacted as `redaction.redact` allows).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ctdc_assets.quality.prepare import INDEX, SAMPLE_ROWS, Domain, PreparedTable
from ctdc_assets.quality.results import Outcome, short
from ctdc_assets.quality.suite_model import NULL_TYPES, ExpectationSpec, Status

__all__ = ["MAX_FOUND", "SAMPLE_VALUES", "map_outcome", "outcome", "plain_outcome"]

SAMPLE_VALUES = 5  # distinct unexpected values shown per failed expectation
MAX_FOUND = 200  # failing values per expectation kept in audit.findings


def outcome(table: PreparedTable, spec: ExpectationSpec, status: Status, **fields: Any) -> Outcome:
    """`spec`'s outcome on `table`, its columns named as people know them."""
    shown = (
        fields.pop("columns", None)
        or spec.meta.get("columns")
        or [table.shown_as.get(c, c) for c in spec.columns]
    )
    fields.setdefault("personal", table.is_personal(spec))
    return Outcome(
        id=spec.id,
        type=spec.type,
        description=spec.description,
        severity=spec.severity,
        columns=tuple(dict.fromkeys(shown)),
        status=status,
        table=spec.table,
        row_label=table.row_label,
        **fields,
    )


def map_outcome(
    table: PreparedTable, spec: ExpectationSpec, domain: Domain, results: dict[int, Any]
) -> Outcome:
    """A row-wise, uniqueness or distinct-values verdict on `domain`, counted in rows."""
    result = results[spec.index]
    personal = table.is_personal(spec)
    if failed := _error(table, spec, result, personal):
        return failed
    groups = domain.groups
    assert groups is not None
    if spec.kind == "distinct":
        observed = (
            None if personal else short(result.result.get("observed_value"), table.shown_words)
        )
        status: Status = "passed" if result.success else "failed"
        return outcome(table, spec, status, observed=observed, personal=personal)

    bad = _unexpected_groups(result, domain, groups)
    unexpected = int(bad.get_column("__n__").sum()) if bad.height else 0
    evaluated = _evaluated(table, spec, domain)
    mostly = spec.kwargs.get("mostly")
    if mostly is not None and evaluated:
        success = (evaluated - unexpected) / evaluated >= float(mostly)
    else:
        success = unexpected == 0
    allowed = table.shown_words
    rows = tuple(
        r if isinstance(r, int) else short(r, allowed)  # side tables: column names
        for r in sorted(
            {r for rs in bad.get_column("__rows__").to_list() for r in rs}, key=_row_key
        )[:SAMPLE_ROWS]
    )
    samples, found = _samples(spec, domain, bad, allowed) if not personal else ((), ())
    named = _named_columns(spec, domain, bad, rows)
    return outcome(
        table,
        spec,
        "passed" if success else "failed",
        unexpected=unexpected,
        evaluated=evaluated,
        rows=rows,
        samples=samples,
        personal=personal,
        found=found,
        **named,
    )


def _error(
    table: PreparedTable, spec: ExpectationSpec, result: Any, personal: bool
) -> Outcome | None:
    """The outcome of an expectation GX could not evaluate (its message only when the
    columns are not personal); None when it could."""
    error = _exception(result)
    if not error:
        return None
    note = error if not personal else "evaluation error"
    return outcome(table, spec, "error", note=note, personal=personal)


def _unexpected_groups(result: Any, domain: Domain, groups: pl.DataFrame) -> pl.DataFrame:
    """The domain's groups (distinct values) GX found unexpected; padding left out."""
    positions = {int(d[INDEX]) for d in result.result.get("unexpected_index_list") or []}
    if domain.unique:
        hit = sorted({p // 2 for p in positions if p < 2 * groups.height})
    else:
        hit = sorted(p for p in positions if p < groups.height)
    return groups[hit] if hit else groups.clear()


def _samples(
    spec: ExpectationSpec, domain: Domain, bad: pl.DataFrame, allowed: Any
) -> tuple[tuple[str, ...], tuple[tuple[str, int, str], ...]]:
    """Sample values as shown (most rows first), and the failing values as delivered."""
    if not bad.height:
        return (), ()
    first_row = pl.col("__rows__").list.first()
    ordered = bad.sort([pl.col("__n__"), first_row], descending=[True, False])
    top = ordered.head(SAMPLE_VALUES)
    found = tuple(
        (
            " / ".join("null" if row[c] is None else str(row[c]) for c in domain.columns),
            int(row["__n__"]),
            ", ".join(str(r) for r in row["__rows__"][:SAMPLE_ROWS]),
        )
        for row in ordered.head(MAX_FOUND).iter_rows(named=True)
    )
    if spec.table == "main":  # value (rows holding it)
        samples = tuple(
            " / ".join(short(row[c], allowed) for c in domain.columns) + f" ({row['__n__']:,})"
            for row in top.iter_rows(named=True)
        )
    else:  # side tables: one row per column or variable, so name the fields
        samples = tuple(
            ", ".join(f"{c}={short(row[c], allowed)}" for c in domain.columns)
            for row in top.iter_rows(named=True)
        )
    return samples, found


def _named_columns(
    spec: ExpectationSpec,
    domain: Domain,
    bad: pl.DataFrame,
    rows: tuple[int | str, ...],
) -> dict[str, Any]:
    """The columns to name when a suite says its rows or values name them."""
    named: dict[str, Any] = {}
    if spec.meta.get("columns_from_rows") and rows:
        named["columns"] = [str(r) for r in rows]
    if spec.meta.get("columns_from_values") and bad.height:
        # derived values list the offending columns ("isAbduction=2, gender"): name them
        column = domain.columns[0]
        rows_of: dict[str, int] = {}
        for value, n in bad.select(column, "__n__").iter_rows():
            for item in str(value).split(", "):
                name = item.split("=", 1)[0]
                rows_of[name] = rows_of.get(name, 0) + n
        named["columns"] = sorted(rows_of, key=lambda c: (-rows_of[c], c))
    return named


def _evaluated(table: PreparedTable, spec: ExpectationSpec, domain: Domain) -> int:
    """Rows GX would look at: all, minus those its missing-value rule ignores."""
    if domain.unique:
        return int(domain.nonmissing_rows or 0)
    groups = domain.groups
    assert groups is not None
    nulls = [pl.col(c).is_null() for c in domain.columns]
    if spec.type in NULL_TYPES:
        return table.row_count
    if len(nulls) == 1:
        ignored = nulls[0]
    else:
        rule = spec.kwargs.get("ignore_row_if") or (
            "both_values_are_missing"
            if len(nulls) == 2 and "column_A" in spec.kwargs
            else "all_values_are_missing"
        )
        if rule in ("both_values_are_missing", "all_values_are_missing"):
            ignored = pl.all_horizontal(nulls)
        elif rule in ("either_value_is_missing", "any_value_is_missing"):
            ignored = pl.any_horizontal(nulls)
        else:
            ignored = pl.lit(False)
    missing = groups.filter(ignored).get_column("__n__").sum()
    return table.row_count - int(missing or 0)


def plain_outcome(table: PreparedTable, spec: ExpectationSpec, result: Any) -> Outcome:
    """A verdict GX gave on the table itself (schema, row count, full columns)."""
    personal = table.is_personal(spec)
    if failed := _error(table, spec, result, personal):
        return failed
    res = result.result or {}
    status: Status = "passed" if result.success else "failed"
    allowed = table.shown_words
    observed = res.get("observed_value")
    details = res.get("details") or {}
    if isinstance(details.get("mismatched"), dict):  # columns to match set / ordered list
        mismatch = details["mismatched"]
        kinds = ["missing"] + (["unexpected"] if spec.kwargs.get("exact_match", True) else [])
        observed = "; ".join(
            f"{k}: {', '.join(short(m, allowed) for m in mismatch[k])}"
            for k in kinds
            if mismatch.get(k)
        )
    elif isinstance(details.get("mismatched"), list):
        observed = "; ".join(short(m, allowed) for m in details["mismatched"][:5])
    elif observed is not None and not isinstance(observed, int | float):
        observed = short(observed, allowed)
    unexpected = res.get("unexpected_count")
    rows: tuple[int | str, ...] = ()
    if res.get("unexpected_index_list"):
        rows = tuple(
            r if isinstance(r, int) else short(r, allowed)
            for r in sorted(
                (d[table.row_column] for d in res["unexpected_index_list"]), key=_row_key
            )[:SAMPLE_ROWS]
        )
    return outcome(
        table,
        spec,
        status,
        unexpected=unexpected,
        evaluated=res.get("element_count") if unexpected is not None else None,
        rows=rows,
        observed=None if personal or observed is None else _short_list(observed),
        personal=personal,
    )


def _row_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def _short_list(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def _exception(result: Any) -> str | None:
    info = result.exception_info or {}
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for item in candidates:
        if item.get("raised_exception"):
            message = str(item.get("exception_message") or "error").splitlines()[0]
            return message[:200]
    return None

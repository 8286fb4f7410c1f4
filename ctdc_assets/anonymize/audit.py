"""The release gates, recomputed from the release table alone.

Used by the blocking check on `release/candidate` and by `ctdc verify` on a
published CSV. Independent of the engine by construction: this module does not
import it, and counts equivalence classes with DuckDB SQL on the published values
as text, so a bug (or a tampered file) in the engine's integer bookkeeping cannot
hide here. SQL rather than a frame because the table can hold 10M records: every
gate is one or two scans (classes, then distinct values per column), never a copy
of the table as text. Findings hold counts and row numbers, never the values of a class or of a
cell, so they are safe to show in the Dagster UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from ctdc_assets.anonymize.codebook import release_values
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy_model import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard
from ctdc_assets.warehouse.bounded import quote

CHECKS = ("columns", "k_anonymity", "l_diversity", "codebook_values", "suppression")
_SHOWN_ROWS = 5


@dataclass(frozen=True)
class AuditFinding:
    """The outcome of one gate: passed or not, a readable line, a table of what failed."""

    check: str
    passed: bool
    summary: str
    details: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def failures(findings: list[AuditFinding]) -> list[AuditFinding]:
    return [f for f in findings if not f.passed]


def class_sizes(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Size of each equivalence class (records sharing every value of `columns`)."""
    if frame.height == 0:
        return pl.Series("len", [], dtype=pl.UInt32)
    return frame.select(columns).group_by(columns).len()["len"]


def k_anonymity(frame: pl.DataFrame, columns: list[str]) -> int:
    """The k the table achieves: its smallest class (0 for an empty table)."""
    sizes = class_sizes(frame, columns)
    return int(sizes.min()) if sizes.len() else 0


def l_diversity(frame: pl.DataFrame, columns: list[str], attribute: str) -> int:
    """The distinct l the table achieves for one attribute: fewest values in a class."""
    if frame.height == 0:
        return 0
    return int(frame.group_by(columns).agg(pl.col(attribute).n_unique())[attribute].min())


Source = pl.DataFrame | duckdb.DuckDBPyRelation
_TABLE = "release_records"


def audit_release(
    frame: Source,
    policy: ReleasePolicy,
    *,
    total_records: int | None = None,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
    row_column: str | None = None,
) -> list[AuditFinding]:
    """Every gate on a release table (as published: any dtype, compared as text).

    `frame` is a DataFrame or a DuckDB relation (a table, a CSV read as text);
    `row_column` names a relation column holding 1-based row numbers that is not part
    of the release (a DataFrame is numbered by position). `total_records` is the
    number of records before anonymization (the manifest's count); without it the
    suppression gate cannot be computed and fails.
    """
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    con = None
    if isinstance(frame, pl.DataFrame):
        row_column = _unused_name(frame.columns)
        con = duckdb.connect()
        con.register(_TABLE, frame.with_row_index(row_column, offset=1))
        relation = con.sql(f"SELECT * FROM {_TABLE}")
    else:
        relation = frame
    try:
        table = _Table(relation, row_column)
        qi_columns = [c for c in policy.release_qi_columns if c in table.columns]
        classes = _classes(table, policy, qi_columns)
        return [
            _columns(table.columns, policy, standard),
            _k(classes, policy, qi_columns),
            _l(classes, table.columns, policy),
            _values(table, policy, standard, hierarchies),
            _suppression(classes, policy, total_records),
        ]
    finally:
        if con is not None:
            con.close()


def numbered_table(
    con: duckdb.DuckDBPyConnection, table: str
) -> tuple[duckdb.DuckDBPyRelation, str]:
    """A stored table as an audit source: the relation and its row-number column."""
    row_column = _unused_name(con.table(table).columns)
    return con.sql(f"SELECT rowid + 1 AS {quote(row_column)}, * FROM {table}"), row_column


def _unused_name(columns: list[str]) -> str:
    name = "__row__"
    while name in columns:
        name = f"_{name}_"
    return name


def _text(column: str) -> str:
    return f"CAST({quote(column)} AS VARCHAR)"


class _Table:
    """The release as a relation, queried with SQL; `columns` excludes the row numbers."""

    def __init__(self, relation: duckdb.DuckDBPyRelation, row_column: str | None) -> None:
        self.relation = relation
        self.row_column = row_column
        self.columns = [c for c in relation.columns if c != row_column]

    def aggregate(self, expressions: list[str], groups: list[str] | None = None) -> Any:
        """Relation API, not SQL on a view: a view cannot be made in a read-only catalog."""
        return self.relation.aggregate(", ".join(expressions), ", ".join(groups or []))


def _classes(table: _Table, policy: ReleasePolicy, columns: list[str]) -> pl.DataFrame:
    """One row per equivalence class: its QI values as text, `len`, and per l-diversity
    attribute its number of distinct values (a missing cell counts as one)."""
    attributes = [
        a
        for a in (policy.l_diversity.attributes if policy.l_diversity else [])
        if a in table.columns
    ]
    distinct = [
        f"count(DISTINCT {_text(a)}) + (count({quote(a)}) < count(*))::BIGINT AS {quote(a)}"
        for a in attributes
    ]
    keys = [f"{_text(c)} AS {quote(c)}" for c in columns]
    groups = [_text(c) for c in columns]
    return table.aggregate([*keys, "count(*) AS len", *distinct], groups).pl()


def _columns(columns: list[str], policy: ReleasePolicy, standard: Standard) -> AuditFinding:
    expected = policy.release_columns(standard)
    internal = set(standard.internal_columns)
    unexpected = [c for c in columns if c not in expected]
    missing = [c for c in expected if c not in columns]
    details = [
        {
            "column": c,
            "problem": "internal column" if c in internal else "not a published column",
        }
        for c in unexpected
    ] + [{"column": c, "problem": "missing"} for c in missing]
    if details:
        leaked = [c for c in unexpected if c in internal]
        summary = (
            f"{len(unexpected)} column(s) that must not be published"
            + (f" (internal: {', '.join(leaked)})" if leaked else "")
            + f", {len(missing)} published column(s) missing"
        )
        return AuditFinding("columns", False, summary, details)
    return AuditFinding(
        "columns", True, f"Exactly the {len(expected)} published columns, in any order"
    )


def _k(classes: pl.DataFrame, policy: ReleasePolicy, columns: list[str]) -> AuditFinding:
    sizes = classes["len"].filter(classes["len"] > 0)  # no key column: one row, maybe 0
    if sizes.len() == 0:
        return AuditFinding("k_anonymity", True, "Empty release: no record to re-identify")
    small = sizes.filter(sizes < policy.k)
    smallest = int(sizes.min())
    figures = {
        "k_required": policy.k,
        "k_achieved": smallest,
        "equivalence_classes": sizes.len(),
        "max_prosecutor_risk": round(1 / smallest, 4),
        "average_prosecutor_risk": round(sizes.len() / int(sizes.sum()), 4),
        "quasi_identifiers": columns,
    }
    if small.len():
        return AuditFinding(
            "k_anonymity",
            False,
            f"{small.len()} equivalence class(es) smaller than k = {policy.k} "
            f"({int(small.sum())} records; smallest {smallest})",
            [
                {"class_size": int(size), "classes": int(n)}
                for size, n in small.value_counts().sort("len").iter_rows()
            ],
            figures,
        )
    return AuditFinding(
        "k_anonymity",
        True,
        f"k = {smallest} >= {policy.k} on {len(columns)} quasi-identifier columns "
        f"({sizes.len()} classes; max re-identification risk {1 / smallest:.3f})",
        figures=figures,
    )


def _l(classes: pl.DataFrame, columns: list[str], policy: ReleasePolicy) -> AuditFinding:
    if not policy.l_diversity:
        return AuditFinding("l_diversity", True, "Not required by the policy")
    required = policy.l_diversity.l
    details = []
    classes = classes.filter(pl.col("len") > 0)
    for attribute in policy.l_diversity.attributes:
        if attribute not in columns:
            details.append({"attribute": attribute, "problem": "column missing"})
            continue
        low = classes.filter(pl.col(attribute) < required)
        if low.height:
            details.append(
                {
                    "attribute": attribute,
                    "classes_below_l": low.height,
                    "records": int(low["len"].sum()),
                    "fewest_distinct_values": int(low[attribute].min()),
                }
            )
    if details:
        return AuditFinding(
            "l_diversity",
            False,
            f"Classes with fewer than l = {required} distinct values",
            details,
        )
    return AuditFinding(
        "l_diversity",
        True,
        f"Every class holds >= {required} distinct values of "
        + ", ".join(policy.l_diversity.attributes),
    )


def distinct_values(table: _Table, columns: list[str]) -> dict[str, tuple[list[str], int]]:
    """Per column: its distinct non-empty values as text, and its number of empty cells.

    One scan of the table for all columns."""
    if not columns:
        return {}
    aggregates = [
        f"list(DISTINCT {_text(c)}) FILTER (WHERE {quote(c)} IS NOT NULL), "
        f"count(*) - count({quote(c)})"
        for c in columns
    ]
    row = table.aggregate(aggregates).fetchone()
    assert row is not None
    return {c: (row[2 * i] or [], int(row[2 * i + 1])) for i, c in enumerate(columns)}


def _values(
    table: _Table,
    policy: ReleasePolicy,
    standard: Standard,
    hierarchies: dict[str, Hierarchy],
) -> AuditFinding:
    allowed = release_values(policy, standard=standard, hierarchies=hierarchies)
    checked = [c for c in table.columns if c in allowed]  # others: the columns gate
    details = []
    for column, (values, nulls) in distinct_values(table, checked).items():
        wrong = _values_outside(column, values, allowed[column], standard)
        if not wrong and not nulls:
            continue
        count, rows = _rows_holding(table, column, wrong)
        details.append(
            {
                "column": column,
                "cells_outside_codebook": count,
                "first_rows": ", ".join(str(r) for r in rows),
            }
        )
    if details:
        cells = sum(d["cells_outside_codebook"] for d in details)
        return AuditFinding(
            "codebook_values",
            False,
            f"{cells} cell(s) in {len(details)} column(s) hold a value the codebook lacks "
            "(values not shown: they could be personal data)",
            details,
        )
    return AuditFinding(
        "codebook_values",
        True,
        "Every cell holds a codebook value (original, generalized, suppressed or missing)",
    )


def _rows_holding(table: _Table, column: str, wrong: list[str]) -> tuple[int, list[int]]:
    """How many cells of `column` are empty or in `wrong`, and the first rows (1-based)."""
    condition = f"{quote(column)} IS NULL"
    if wrong:
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in wrong)
        condition += f" OR {_text(column)} IN ({values})"
    holding = table.relation.filter(condition)
    count = holding.aggregate("count(*)").fetchone()
    rows: list[int] = []
    if table.row_column is not None:
        first = holding.project(quote(table.row_column)).order("1").limit(_SHOWN_ROWS)
        rows = [int(r[0]) for r in first.fetchall()]
    return int(count[0]) if count else 0, rows


def _values_outside(
    column: str, distinct: list[str], allowed: set[str] | None, standard: Standard
) -> list[str]:
    """Distinct non-empty values of a column the codebook lacks.

    `allowed` None marks a list column: the missing code, or known labels joined by
    the list's separator.
    """
    if allowed is not None:
        return [value for value in distinct if value not in allowed]
    var = standard.variable(column)
    labels = set(standard.list_labels(column))
    return [
        value
        for value in distinct
        if value != standard.missing_code and not set(value.split(var.separator or ";")) <= labels
    ]


def _suppression(
    classes: pl.DataFrame, policy: ReleasePolicy, total_records: int | None
) -> AuditFinding:
    star = policy.suppressed_value
    qis = [q for q in policy.qi_names if q in classes.columns]
    published = int(classes["len"].sum())
    suppressed_cells = sum(int(classes.filter(pl.col(q) == star)["len"].sum()) for q in qis)
    figures = {"records_published": published, "qi_cells_suppressed": suppressed_cells}
    if total_records is None:
        return AuditFinding(
            "suppression",
            False,
            "Total number of records unknown: cannot check the suppression limit",
            figures=figures,
        )
    deleted = total_records - published
    share = deleted / total_records if total_records else 0.0
    figures |= {"records_total": total_records, "records_deleted": deleted}
    if deleted < 0:
        return AuditFinding(
            "suppression",
            False,
            f"The release holds {published} records, more than the {total_records} "
            "records it was made from",
            figures=figures,
        )
    passed = share <= policy.suppression_limit
    return AuditFinding(
        "suppression",
        passed,
        f"{deleted} of {total_records} records left out ({share:.2%}; limit "
        f"{policy.suppression_limit:.0%}); {suppressed_cells} quasi-identifier cells suppressed",
        figures=figures,
    )

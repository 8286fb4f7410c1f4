"""The release gates, recomputed from the release table alone.

Used by the blocking check on `release/candidate` and by `ctdc verify` on a
published CSV. Independent of the engine by construction: this module does not
import it, and counts equivalence classes with Polars on the published strings,
so a bug (or a tampered file) in the engine's integer bookkeeping cannot hide
here. Findings hold counts and row numbers, never the values of a class or of a
cell, so they are safe to show in the Dagster UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ctdc_assets.anonymize.codebook import release_values
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard

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


def audit_release(
    frame: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    total_records: int | None = None,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> list[AuditFinding]:
    """Every gate on a release table (as published: any dtype, compared as text).

    `total_records` is the number of records before anonymization (the manifest's
    count); without it the suppression gate cannot be computed and fails.
    """
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    text = frame.with_columns(pl.all().cast(pl.String))
    qi_columns = [c for c in policy.release_qi_columns if c in text.columns]
    return [
        _columns(text, policy, standard),
        _k(text, policy, qi_columns),
        _l(text, policy, qi_columns),
        _values(text, policy, standard, hierarchies),
        _suppression(text, policy, total_records),
    ]


def _columns(frame: pl.DataFrame, policy: ReleasePolicy, standard: Standard) -> AuditFinding:
    expected = policy.release_columns(standard)
    internal = set(standard.internal_columns)
    unexpected = [c for c in frame.columns if c not in expected]
    missing = [c for c in expected if c not in frame.columns]
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


def _k(frame: pl.DataFrame, policy: ReleasePolicy, columns: list[str]) -> AuditFinding:
    sizes = class_sizes(frame, columns)
    if sizes.len() == 0:
        return AuditFinding("k_anonymity", True, "Empty release: no record to re-identify")
    small = sizes.filter(sizes < policy.k)
    smallest = int(sizes.min())
    figures = {
        "k_required": policy.k,
        "k_achieved": smallest,
        "equivalence_classes": sizes.len(),
        "max_prosecutor_risk": round(1 / smallest, 4),
        "average_prosecutor_risk": round(sizes.len() / frame.height, 4),
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


def _l(frame: pl.DataFrame, policy: ReleasePolicy, columns: list[str]) -> AuditFinding:
    if not policy.l_diversity:
        return AuditFinding("l_diversity", True, "Not required by the policy")
    required = policy.l_diversity.l
    details = []
    for attribute in policy.l_diversity.attributes:
        if attribute not in frame.columns:
            details.append({"attribute": attribute, "problem": "column missing"})
            continue
        if frame.height == 0:
            continue
        per_class = frame.group_by(columns).agg(pl.len(), pl.col(attribute).n_unique())
        low = per_class.filter(pl.col(attribute) < required)
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


def _values(
    frame: pl.DataFrame,
    policy: ReleasePolicy,
    standard: Standard,
    hierarchies: dict[str, Hierarchy],
) -> AuditFinding:
    allowed = release_values(policy, standard=standard, hierarchies=hierarchies)
    details = []
    for column in frame.columns:
        if column not in allowed:
            continue  # reported by the columns gate
        cells = frame[column]
        wrong = _values_outside(cells, allowed[column], standard)
        if not wrong and not cells.null_count():
            continue
        bad = (cells.is_in(wrong) | cells.is_null()).arg_true()
        if bad.len():
            details.append(
                {
                    "column": column,
                    "cells_outside_codebook": bad.len(),
                    "first_rows": ", ".join(str(r + 1) for r in bad.head(_SHOWN_ROWS).to_list()),
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


def _values_outside(cells: pl.Series, allowed: set[str] | None, standard: Standard) -> list:
    """Distinct non-empty values of a column the codebook lacks.

    `allowed` None marks a list column: the missing code, or known labels joined by
    the list's separator.
    """
    distinct = cells.drop_nulls().unique().to_list()
    if allowed is not None:
        return [value for value in distinct if value not in allowed]
    var = standard.variable(cells.name)
    labels = set(standard.list_labels(cells.name))
    return [
        value
        for value in distinct
        if value != standard.missing_code and not set(value.split(var.separator or ";")) <= labels
    ]


def _suppression(
    frame: pl.DataFrame, policy: ReleasePolicy, total_records: int | None
) -> AuditFinding:
    star = policy.suppressed_value
    qis = [q for q in policy.qi_names if q in frame.columns]
    suppressed_cells = sum(int((frame[q] == star).sum()) for q in qis)
    figures = {"records_published": frame.height, "qi_cells_suppressed": suppressed_cells}
    if total_records is None:
        return AuditFinding(
            "suppression",
            False,
            "Total number of records unknown: cannot check the suppression limit",
            figures=figures,
        )
    deleted = total_records - frame.height
    share = deleted / total_records if total_records else 0.0
    figures |= {"records_total": total_records, "records_deleted": deleted}
    if deleted < 0:
        return AuditFinding(
            "suppression",
            False,
            f"The release holds {frame.height} records, more than the {total_records} "
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

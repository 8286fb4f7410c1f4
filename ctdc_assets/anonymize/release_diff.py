"""The two-release diff gate: no class may change by 1..k-1 records between releases.

Why: each release can be k-anonymous on its own and still single out a record when it is
compared with the one before. A class that grew by one record shows which row is new,
and a row-by-row diff of the class recovers it, sensitive attributes included. This gate
plays that adversary on the published values alone: it reads the previous release's
records from its folder (Parquet, or the CSV as text) and counts every quasi-identifier
class of both releases with SQL, never importing the engine.

A class may grow by 0 or at least k records, and shrink by 0 or at least k, except for
records removed at once because they are no longer delivered (consent withdrawn or deleted
at source): the candidate declares how many, and small decreases may add up to no more.
Findings hold counts only, never the values of a class.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from ctdc_assets.anonymize.audit import AuditFinding
from ctdc_assets.anonymize.policy_model import ReleasePolicy
from ctdc_assets.warehouse.bounded import quote

CHECK = "release_diff"


def previous_records(con: duckdb.DuckDBPyConnection, release: Path) -> duckdb.DuckDBPyRelation:
    """The records of a published release folder, as published."""
    parquet, csv = release / "victims.parquet", release / "victims.csv"
    if parquet.exists():
        return con.read_parquet(str(parquet))
    if csv.exists():
        return con.read_csv(str(csv), all_varchar=True, header=True)
    raise FileNotFoundError(f"{release}: no victims.parquet or victims.csv")


def class_counts(records: duckdb.DuckDBPyRelation, columns: list[str]) -> pl.DataFrame:
    """Records per class: the QI values as text, and `n`."""
    text = [f"CAST({quote(c)} AS VARCHAR)" for c in columns]
    keys = [f"{t} AS {quote(c)}" for t, c in zip(text, columns, strict=True)]
    return records.aggregate(", ".join([*keys, "count(*) AS n"]), ", ".join(text)).pl()


def class_changes(
    previous: duckdb.DuckDBPyRelation, candidate: duckdb.DuckDBPyRelation, columns: list[str]
) -> pl.Series:
    """Per class of either release: candidate count minus previous count."""
    before = class_counts(previous, columns).rename({"n": "before"})
    after = class_counts(candidate, columns).rename({"n": "after"})
    joined = before.join(after, on=columns, how="full", coalesce=True, nulls_equal=True)
    return joined.select(pl.col("after").fill_null(0) - pl.col("before").fill_null(0)).to_series()


def release_diff(
    previous: duckdb.DuckDBPyRelation | None,
    candidate: duckdb.DuckDBPyRelation,
    policy: ReleasePolicy,
    *,
    removed: int = 0,
) -> AuditFinding:
    """The gate's verdict on `candidate` against the previous release (None: the first)."""
    if previous is None:
        return AuditFinding(CHECK, True, "First release: nothing to compare with")
    columns = [c for c in policy.release_qi_columns if c in candidate.columns]
    missing = [c for c in columns if c not in previous.columns]
    if missing:
        return AuditFinding(
            CHECK, False, f"The previous release lacks quasi-identifier columns {missing}"
        )
    change = class_changes(previous, candidate, columns)
    grew = change.filter((change > 0) & (change < policy.k))
    shrank = (-change).filter((change < 0) & (change > -policy.k))
    figures = {
        "classes_compared": change.len(),
        "classes_grown_by_fewer_than_k": grew.len(),
        "records_singled_out": int(grew.sum()),
        "classes_shrunk_by_fewer_than_k": shrank.len(),
        "records_removed_at_once": removed,
    }
    details = [
        {"change": f"+{int(size)}", "classes": int(n)}
        for size, n in grew.value_counts().sort(grew.name).iter_rows()
    ]
    if int(shrank.sum()) > removed:
        details += [
            {"change": f"-{int(size)}", "classes": int(n)}
            for size, n in shrank.value_counts().sort(shrank.name).iter_rows()
        ]
    if details:
        return AuditFinding(
            CHECK,
            False,
            f"Compared with the previous release, {grew.len()} class(es) grew by 1 to "
            f"{policy.k - 1} records ({int(grew.sum())} records singled out) and "
            f"{shrank.len()} shrank by 1 to {policy.k - 1} ({int(shrank.sum())} records; "
            f"{removed} removed at once allowed)",
            details,
            figures,
        )
    return AuditFinding(
        CHECK,
        True,
        f"No class changed by 1 to {policy.k - 1} records since the previous release "
        f"({change.len()} classes compared; {removed} records removed at once, "
        f"{int(shrank.sum())} of them in small decreases)",
        figures=figures,
    )

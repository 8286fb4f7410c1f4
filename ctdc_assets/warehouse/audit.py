"""The audit rows the harmonize step leaves for the gates downstream: each contributor's
reconciliation counts and the source values its crosswalk could not map."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from ctdc_assets.crosswalk import COUNT_NAMES, Harmonized
from ctdc_assets.warehouse.io import exists
from ctdc_assets.warehouse.tables import HARMONIZE_COUNTS, UNMAPPED, harmonized

_UNMAPPED_COLUMNS = ("variable", "source_column", "source_value", "rows")


def record_harmonize_audit(
    con: duckdb.DuckDBPyConnection, contributor: str, result: Harmonized
) -> None:
    """Keep the reconciliation counts and unmapped values (inside the caller's transaction)."""
    counts, unmapped = result.counts, result.unmapped
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {HARMONIZE_COUNTS.schema}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {HARMONIZE_COUNTS} (contributor VARCHAR PRIMARY KEY, "
        "delivered BIGINT, no_consent BIGINT, out_of_scope BIGINT, duplicates BIGINT, "
        "harmonized BIGINT)"
    )
    con.execute(
        f"INSERT OR REPLACE INTO {HARMONIZE_COUNTS} VALUES (?, ?, ?, ?, ?, ?)",
        [contributor, *(counts[k] for k in COUNT_NAMES)],
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {UNMAPPED} (contributor VARCHAR, variable VARCHAR, "
        "source_column VARCHAR, source_value VARCHAR, rows BIGINT)"
    )
    con.execute(f"DELETE FROM {UNMAPPED} WHERE contributor = ?", [contributor])
    if unmapped.height:
        con.register("_unmapped", unmapped.select(_UNMAPPED_COLUMNS))
        con.execute(f"INSERT INTO {UNMAPPED} SELECT ?, * FROM _unmapped", [contributor])
        con.unregister("_unmapped")


def read_unmapped(con: duckdb.DuckDBPyConnection, contributor: str) -> pl.DataFrame:
    """The values the contributor's last harmonization could not map, with their rows."""
    return con.execute(
        f"SELECT {', '.join(_UNMAPPED_COLUMNS)} FROM {UNMAPPED} WHERE contributor = ?",
        [contributor],
    ).pl()


def harmonized_rows(con: duckdb.DuckDBPyConnection, contributors: Iterable[str]) -> dict[str, int]:
    """Rows of each contributor's harmonized table, for those that have one."""
    return {
        name: con.execute(f"SELECT count(*) FROM {harmonized(name)}").fetchone()[0]
        for name in contributors
        if exists(con, harmonized(name))
    }

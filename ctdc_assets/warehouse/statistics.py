"""The statistics schema: the protected aggregate tables, written and read as one set."""

from __future__ import annotations

import json

import duckdb
import polars as pl

from ctdc_assets.statistics.tables import input_columns
from ctdc_assets.warehouse.bounded import quote
from ctdc_assets.warehouse.io import exists, replace_table
from ctdc_assets.warehouse.tables import MERGED, STATISTICS_FIGURES, STATISTICS_SCHEMA, statistic


def read_counted_victims(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The columns of merged/victims the statistics count (and the records' cell keys)."""
    present = set(con.table(str(MERGED)).columns)
    columns = [quote(c) for c in input_columns() if c in present]
    return con.execute(f"SELECT {', '.join(columns)} FROM {MERGED}").pl()


def write_statistics(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame], figures: dict
) -> None:
    """Replace the whole set: readers see the old set or the new, never a mix."""
    con.execute("BEGIN TRANSACTION")
    con.execute(f"DROP SCHEMA IF EXISTS {STATISTICS_SCHEMA} CASCADE")
    for name, table in tables.items():
        replace_table(con, statistic(name), table)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {STATISTICS_FIGURES.schema}")
    con.execute(f"CREATE OR REPLACE TABLE {STATISTICS_FIGURES} (figures VARCHAR)")
    con.execute(f"INSERT INTO {STATISTICS_FIGURES} VALUES (?)", [json.dumps(figures)])
    con.execute("COMMIT")


def read_statistics(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Every protected table in the statistics schema, by name."""
    names = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
            [STATISTICS_SCHEMA],
        ).fetchall()
    ]
    return {name: con.execute(f"SELECT * FROM {statistic(name)}").pl() for name in names}


def read_protection_figures(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The protection figures of the stored statistics (withheld share, error by band)."""
    if not exists(con, STATISTICS_FIGURES):
        return None
    return json.loads(con.execute(f"SELECT figures FROM {STATISTICS_FIGURES}").fetchone()[0])

"""The audit rows the harmonize step leaves for the gates downstream: each contributor's
reconciliation counts and the source values its crosswalk could not map.

An unmapped value is `new` when no earlier delivery of the contributor (another
sha256) left it unmapped: re-harmonizing the same delivery after a crosswalk edit does
not make its values old, and a typo that appears for the first time stands out from the
values the contributor has always sent."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from ctdc_assets.crosswalk import COUNT_NAMES, Harmonized
from ctdc_assets.warehouse.io import exists
from ctdc_assets.warehouse.tables import (
    HARMONIZE_COUNTS,
    UNMAPPED,
    UNMAPPED_SEEN,
    Table,
    harmonized,
)

_UNMAPPED_COLUMNS = ("variable", "source_column", "source_value", "rows", "first_rows", "new")


def record_harmonize_audit(
    con: duckdb.DuckDBPyConnection, contributor: str, result: Harmonized, raw_table: Table
) -> pl.DataFrame:
    """Keep the reconciliation counts and unmapped values (inside the caller's
    transaction); returns the unmapped values with `new` marked."""
    counts = result.counts
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
    unmapped = _mark_new(con, contributor, result.unmapped, _delivery(con, raw_table))
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {UNMAPPED} (contributor VARCHAR, variable VARCHAR, "
        "source_column VARCHAR, source_value VARCHAR, rows BIGINT)"
    )
    # Warehouses written before the first rows and the new mark existed.
    con.execute(f"ALTER TABLE {UNMAPPED} ADD COLUMN IF NOT EXISTS first_rows VARCHAR")
    con.execute(f"ALTER TABLE {UNMAPPED} ADD COLUMN IF NOT EXISTS new BOOLEAN")
    con.execute(f"DELETE FROM {UNMAPPED} WHERE contributor = ?", [contributor])
    if unmapped.height:
        con.register("_unmapped", unmapped.select(_UNMAPPED_COLUMNS))
        con.execute(
            f"INSERT INTO {UNMAPPED} (contributor, {', '.join(_UNMAPPED_COLUMNS)}) "
            "SELECT ?, * FROM _unmapped",
            [contributor],
        )
        con.unregister("_unmapped")
    return unmapped


def _delivery(con: duckdb.DuckDBPyConnection, raw_table: Table) -> str:
    """The delivery (its sha256s, if several files) the raw table holds."""
    shas = con.execute(f"SELECT DISTINCT delivery_sha256 FROM {raw_table} ORDER BY 1").fetchall()
    return ",".join(str(sha) for (sha,) in shas)


def _mark_new(
    con: duckdb.DuckDBPyConnection, contributor: str, unmapped: pl.DataFrame, delivery: str
) -> pl.DataFrame:
    """`unmapped` + `new` (no other delivery left it unmapped); remembers this delivery's."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {UNMAPPED_SEEN} (contributor VARCHAR, "
        "source_column VARCHAR, source_value VARCHAR, delivery VARCHAR)"
    )
    values = unmapped.select("source_column", "source_value").unique(maintain_order=True)
    con.register("_values", values)
    try:
        old = con.execute(
            f"SELECT DISTINCT v.source_column, v.source_value FROM _values v "
            f"JOIN {UNMAPPED_SEEN} s ON s.contributor = ? AND s.delivery <> ? "
            "AND s.source_column = v.source_column AND s.source_value = v.source_value",
            [contributor, delivery],
        ).fetchall()
        con.execute(
            f"INSERT INTO {UNMAPPED_SEEN} SELECT ?, v.source_column, v.source_value, ? "
            f"FROM _values v WHERE NOT EXISTS (SELECT 1 FROM {UNMAPPED_SEEN} s "
            "WHERE s.contributor = ? AND s.delivery = ? AND s.source_column = v.source_column "
            "AND s.source_value = v.source_value)",
            [contributor, delivery, contributor, delivery],
        )
    finally:
        con.unregister("_values")
    known = pl.DataFrame(
        old, schema={"source_column": pl.String, "source_value": pl.String}, orient="row"
    )
    return unmapped.join(
        known.with_columns(new=pl.lit(False)),
        on=["source_column", "source_value"],
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("new").fill_null(True))


def read_unmapped(con: duckdb.DuckDBPyConnection, contributor: str) -> pl.DataFrame:
    """The values the contributor's last harmonization could not map, with their rows
    (count and first row numbers) and whether they are new."""
    return con.execute(
        f"SELECT {', '.join(_UNMAPPED_COLUMNS)} FROM {UNMAPPED} WHERE contributor = ? "
        "ORDER BY variable, rows DESC, source_value",
        [contributor],
    ).pl()


def harmonized_rows(con: duckdb.DuckDBPyConnection, contributors: Iterable[str]) -> dict[str, int]:
    """Rows of each contributor's harmonized table, for those that have one."""
    return {
        name: con.execute(f"SELECT count(*) FROM {harmonized(name)}").fetchone()[0]
        for name in contributors
        if exists(con, harmonized(name))
    }

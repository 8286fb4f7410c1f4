"""Harmonizing a raw table inside the warehouse, a chunk of rows at a time.

The crosswalk engine maps frames; this feeds it the raw table in `rowid` order, a chunk
at a time, and writes each mapped chunk to the staging table, so memory stays bounded
by the chunk, not the delivery.
"""

from __future__ import annotations

import duckdb
import polars as pl

from ctdc_assets.crosswalk import Crosswalk, Harmonized
from ctdc_assets.crosswalk.engine import PROVENANCE_COLUMNS, Harmonizer, dedup_columns
from ctdc_assets.warehouse.bounded import quote
from ctdc_assets.warehouse.tables import Table

#: Raw rows harmonized at a time (memory: a few hundred MB per 100,000 rows of a wide
#: delivery, while mapping).
HARMONIZE_CHUNK_ROWS = 500_000


def harmonize_table(
    con: duckdb.DuckDBPyConnection,
    crosswalk: Crosswalk,
    raw_table: Table,
    table: Table,
    pseudonym_key: bytes,
    *,
    chunk_rows: int = HARMONIZE_CHUNK_ROWS,
) -> Harmonized:
    """Harmonize `raw_table` a chunk of rows at a time into the staging table of `table`.

    Rows are read in `rowid` order (the delivery's order: raw tables are written once,
    never updated); the caller swaps the staging table in. The returned result
    has counts and unmapped values but an empty frame: the rows are in the warehouse.
    """
    columns = [row[0] for row in con.execute(f"DESCRIBE {raw_table}").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {raw_table}").fetchone()[0]
    keys = dedup_columns(crosswalk)
    key_frame = pl.DataFrame()
    if keys:
        selected = ", ".join(quote(c) for c in keys)
        key_frame = (
            con.execute(f"SELECT rowid AS _rowid, {selected} FROM {raw_table}")
            .pl()
            .sort("_rowid")
            .drop("_rowid")
        )
    harmonizer = Harmonizer(crosswalk, pseudonym_key, columns, rows, key_frame)
    del key_frame
    staging = table.staging
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    con.execute(f"DROP TABLE IF EXISTS {staging}")
    # Typed and empty first, so an all-filtered delivery still has the standard's columns.
    con.register("_chunk", harmonizer.empty())
    con.execute(f"CREATE TABLE {staging} AS SELECT * FROM _chunk")
    # Only the columns the crosswalk reads (the widest, free text and identifiers, are
    # not); whole rows are fetched for the few rows without a case id.
    read = [
        c for c in columns if c in {"source_row", *crosswalk.used_columns(), *PROVENANCE_COLUMNS}
    ]
    if not crosswalk.case_id:
        read = columns
    selected = ", ".join(["rowid AS _rowid", *(quote(c) for c in read)])

    def full_rows(rowids: pl.Series) -> pl.DataFrame:
        if rowids.is_empty():
            return con.execute(f"SELECT rowid AS _rowid, * FROM {raw_table} LIMIT 0").pl()
        con.register("_rowids", rowids.alias("_rowid").to_frame())
        try:
            # The range lets DuckDB skip to the chunk's row groups.
            return con.execute(
                f"SELECT rowid AS _rowid, * FROM {raw_table} WHERE rowid BETWEEN ? AND ? "
                "AND rowid IN (SELECT _rowid FROM _rowids)",
                [rowids.min(), rowids.max()],
            ).pl()
        finally:
            con.unregister("_rowids")

    low, high = con.execute(f"SELECT min(rowid), max(rowid) FROM {raw_table}").fetchone()
    for start in range(low or 0, (high if high is not None else -1) + 1, chunk_rows):
        raw = con.execute(
            f"SELECT {selected} FROM {raw_table} WHERE rowid >= ? AND rowid < ?",
            [start, start + chunk_rows],
        ).pl()
        if not raw.get_column("_rowid").is_sorted():
            raw = raw.sort("_rowid")
        out = harmonizer.map_chunk(raw, full_rows)
        del raw
        con.register("_chunk", out)
        con.execute(f"INSERT INTO {staging} BY NAME SELECT * FROM _chunk")
        del out
    con.unregister("_chunk")
    return harmonizer.result(harmonizer.empty())

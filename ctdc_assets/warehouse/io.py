"""Reading and writing warehouse tables: whole, atomically, in bounded memory.

Every write leaves either the previous table or the new one, never half of one: a
delivery is loaded in one transaction, and a table built beside its old version
(`Table.staging`) is swapped in by a rename.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import duckdb
import polars as pl

from ctdc_assets.warehouse.bounded import duckdb_settings, quote
from ctdc_assets.warehouse.tables import Table

#: Rows fetched from DuckDB at a time when a whole table is read into one frame.
FETCH_ROWS = 200_000


def exists(con: duckdb.DuckDBPyConnection, table: Table | str) -> bool:
    schema, name = (table.schema, table.name) if isinstance(table, Table) else table.split(".")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(found and found[0])


def read_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """The result of `sql` as one frame, converted batch by batch as DuckDB streams it
    (a whole-result fetch holds DuckDB's, Arrow's and Polars' copies at once)."""
    reader = con.execute(sql).fetch_record_batch(FETCH_ROWS)
    parts = [pl.from_arrow(batch) for batch in reader]
    if not parts:
        return pl.from_arrow(reader.schema.empty_table())  # type: ignore[return-value]
    return pl.concat(parts, rechunk=False)  # type: ignore[arg-type]


def read_with_typed_nulls(
    con: duckdb.DuckDBPyConnection, table: Table, columns: Collection[str]
) -> pl.LazyFrame:
    """`table` with every column, but only `columns` read; the others are typed nulls,
    there by name and type only (never computed: a reader that selects what it needs
    before reading a row never touches them)."""
    schema = con.execute(f"SELECT * FROM {table} LIMIT 0").pl().schema
    read = [c for c in schema if c in columns]
    frame = read_frame(con, f"SELECT {', '.join(quote(c) for c in read)} FROM {table}")
    others = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in read]
    return frame.lazy().with_columns(others).select(list(schema))


def load_batches(
    con: duckdb.DuckDBPyConnection, table: Table, batches: Iterable[pl.DataFrame]
) -> int:
    """Replace `table` with the batches appended in order, in one transaction; its rows.

    Only one batch is in memory at a time. Nothing changes unless every batch arrived:
    an error (e.g. a `DeliveryError` halfway through the file) rolls back, and the
    previous table stays as it was.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    rows = 0
    # One DuckDB thread: inserting into the encrypted file with one thread takes half
    # the CPU of a parallel insert (measured: 2.6M CSV rows, 45 -> 23 s).
    with duckdb_settings(con, threads=1):
        con.execute("BEGIN TRANSACTION")
        try:
            for batch in batches:
                con.register("_batch", batch)
                if rows == 0:
                    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _batch")
                else:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
                con.unregister("_batch")
                rows += batch.height
                del batch
            if rows == 0:
                raise ValueError(f"{table}: no rows to load")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return rows


def swap_in(con: duckdb.DuckDBPyConnection, table: Table, built: Table | None = None) -> None:
    """Put `built` (default: the table's staging table) in the place of `table`, inside
    the caller's transaction if it has one (readers see the old table or the new)."""
    built = built or table.staging
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"ALTER TABLE {built} RENAME TO {table.name}")


def replace_table(
    con: duckdb.DuckDBPyConnection, table: Table | str, source: pl.DataFrame | str
) -> None:
    """Swap a table's contents for `source` (a frame or a relation name) atomically.

    Written with one DuckDB thread: a parallel insert into the encrypted file leaves
    half-filled row groups that compress badly, and measured at 92,000 rows it took twice
    the CPU and twice the time of a single-threaded one (at 1,000,000 rows: the same).
    """
    schema = table.schema if isinstance(table, Table) else table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    with duckdb_settings(con, threads=1):
        if isinstance(source, str):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source}")
            return
        con.register("_incoming", source)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming")
        finally:
            con.unregister("_incoming")

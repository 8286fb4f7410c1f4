"""Bounded memory on big warehouse tables: reading column by column, capping DuckDB.

Why read column by column: `SELECT *` converts the whole result to Arrow and then to
Polars, so a 10M-record table is in memory twice at the peak; one column at a time,
only that column is. Text columns can come back as Enums (one or two bytes a cell
instead of a 16-byte view plus the string) where their values are compared as values,
never as strings.

Why cap DuckDB: its default memory limit is 80% of RAM, and a join or sort of 10M wide
rows takes several GB of it before spilling to the temporary directory. The process has
one DuckDB instance, so the cap is set for a block and the previous value restored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

import duckdb
import polars as pl

from ctdc_assets.warehouse.tables import Table


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def read_columns(
    con: duckdb.DuckDBPyConnection,
    table: Table | str,
    columns: Sequence[str] | None = None,
    *,
    enums: Collection[str] | None = None,
) -> pl.DataFrame:
    """`columns` (default: all) of `table` in its stored order; the text columns named in
    `enums` (default: every text column) as Enums of their distinct values."""
    names = list(columns) if columns is not None else con.table(str(table)).columns
    out: dict[str, pl.Series] = {}
    for name in names:
        series = con.execute(f"SELECT {quote(name)} FROM {table}").pl().to_series()
        if series.dtype == pl.String and (enums is None or name in enums):
            series = series.cast(pl.Enum(series.drop_nulls().unique().sort()))
        out[name] = series
    return pl.DataFrame(out)


#: DuckDB's memory for a big statement (merge, candidate write); beyond it, it spills.
#: Measured at 10M records: 11 GiB resident for the merge, 9 GiB for the candidate
#: write with DuckDB's default; with 3GB the merge's window failed (Out of Memory).
BIG_STATEMENT_MEMORY = "6GB"


@contextmanager
def duckdb_settings(con: duckdb.DuckDBPyConnection, **values: str | int) -> Iterator[None]:
    """DuckDB settings (e.g. memory_limit, threads) for a block, then the previous values
    again: the instance is the process's, shared by every step."""
    before = {
        name: con.execute(f"SELECT current_setting('{name}')").fetchone()[0] for name in values
    }
    try:
        for name, value in values.items():
            con.execute(f"SET {name} = '{value}'")
        yield
    finally:
        for name, value in before.items():
            con.execute(f"SET {name} = '{value}'")

"""Reading a warehouse table into Polars one column at a time.

Why: `SELECT *` converts the whole result to Arrow and then to Polars, so a 10M-record
table is in memory twice at the peak; one column at a time, only that column is. Text
columns can come back as Enums (one or two bytes a cell instead of a 16-byte view plus
the string) where their values are compared as values, never as strings.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import duckdb
import polars as pl


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def read_columns(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str] | None = None,
    *,
    enums: Collection[str] | None = None,
) -> pl.DataFrame:
    """`columns` (default: all) of `table` in its stored order; the text columns named in
    `enums` (default: every text column) as Enums of their distinct values."""
    names = list(columns) if columns is not None else con.table(table).columns
    out: dict[str, pl.Series] = {}
    for name in names:
        series = con.execute(f"SELECT {quote(name)} FROM {table}").pl().to_series()
        if series.dtype == pl.String and (enums is None or name in enums):
            series = series.cast(pl.Enum(series.drop_nulls().unique().sort()))
        out[name] = series
    return pl.DataFrame(out)

"""The DuckDB warehouse as a Dagster resource.

One embedded DuckDB file, encrypted at rest (the raw layer holds personal data).
DuckDB allows one writing process per file, so connections are short-lived, opened
read-only where possible, and every asset and check that uses them sits in the
`warehouse` concurrency pool (limit 1, see dagster.yaml).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from ctdc_assets.config import Settings

POOL = "warehouse"
CATALOG = "warehouse"


def _extension_directory() -> str | None:
    """Extension files shipped by the `duckdb-ext-*` PyPI packages (no network needed)."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def connect(
    path: Path, *, key: str | None, read_only: bool = False, temp_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file as catalog `warehouse` and make it the default."""
    config: dict[str, str | bool] = {
        "autoinstall_known_extensions": False,
    }
    if ext_dir := _extension_directory():
        config["extension_directory"] = ext_dir
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    options = []
    if key is not None:
        if not read_only:
            con.execute("LOAD httpfs")  # OpenSSL: DuckDB writes encrypted files only with it
        options.append(f"ENCRYPTION_KEY '{key}'")
    if read_only:
        options.append("READ_ONLY")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f" ({', '.join(options)})" if options else ""
    escaped = str(path).replace("'", "''")
    con.execute(f"ATTACH '{escaped}' AS {CATALOG}{suffix}")
    con.execute(f"USE {CATALOG}")
    return con


class Warehouse(dg.ConfigurableResource):
    """Short-lived connections to the warehouse; the key never enters the run config."""

    path: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(path=str(settings.warehouse_file))

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = Settings.from_env()
        con = connect(
            Path(self.path),
            key=settings.warehouse_key(),
            read_only=read_only,
            temp_dir=settings.data_dir / "tmp",
        )
        try:
            yield con
        finally:
            con.close()

    def read_table(self, table: str) -> pl.DataFrame:
        with self.connection(read_only=True) as con:
            return con.execute(f"SELECT * FROM {table}").pl()

    def table_exists(self, table: str) -> bool:
        schema, name = table.split(".")
        if not Path(self.path).exists():
            return False
        with self.connection(read_only=True) as con:
            found = con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
                [CATALOG, schema, name],
            ).fetchone()
        return bool(found and found[0])


def replace_table(con: duckdb.DuckDBPyConnection, table: str, source: pl.DataFrame | str) -> None:
    """Swap a table's contents for `source` (a frame or a relation name) atomically."""
    schema = table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    if isinstance(source, str):
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source}")
        return
    con.register("_incoming", source)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")

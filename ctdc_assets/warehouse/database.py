"""The warehouse file: one embedded DuckDB file, encrypted at rest (the raw layer holds
personal data).

DuckDB allows one writing process per file, so the file is attached only while an
asset or check uses it, read-only where possible, and every asset and check that uses
it sits in the `warehouse` concurrency pool (limit 1, see dagster.yaml).

Each process keeps ONE in-memory DuckDB instance (with `httpfs` loaded, which DuckDB
needs to write encrypted files) and attaches the file per use: a new instance costs
~0.1 s, an ATTACH ~3 ms, and a run opens the warehouse some 30 times.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

from ctdc_assets.config import Settings

CATALOG = "warehouse"
REBUILD = "`ctdc warehouse rebuild` rebuilds it from the landing folders"


class WarehouseError(RuntimeError):
    """The warehouse file cannot be read: the wrong key, or a corrupt file."""


def _explained(error: duckdb.Error, path: Path) -> WarehouseError | None:
    """DuckDB's words for a wrong key or a damaged file, said so that one can act."""
    message = str(error).splitlines()[0].replace(", are you using the right key?", "")
    if "Wrong encryption key" in message:
        return WarehouseError(
            f"The warehouse {path} is encrypted with another key than the one given "
            f"(CTDC_WAREHOUSE_KEY, else data/secrets/warehouse.key): restore the right key; "
            f"if it is lost, {REBUILD}."
        )
    if any(sign in message for sign in CORRUPTION_SIGNS):
        return WarehouseError(
            f"The warehouse {path} is corrupt (truncated or damaged: {message}); {REBUILD}."
        )
    return None


#: What DuckDB says when a file (or an encrypted block of it) is damaged.
CORRUPTION_SIGNS = (
    "AES tag",
    "orrupt",
    "checksum",
    "not a valid DuckDB database",
    "Could not read enough bytes",
    "block id",
    "read past end",
)


def _extension_directory() -> str | None:
    """Extension files shipped by the `duckdb-ext-*` PyPI packages (no network needed)."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def _new_database(temp_dir: Path | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB instance that can attach (and write) encrypted files."""
    config: dict[str, str | bool] = {"autoinstall_known_extensions": False}
    if ext_dir := _extension_directory():
        config["extension_directory"] = ext_dir
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)
    database = duckdb.connect(config=config)
    database.execute("SET enable_progress_bar = false")
    return database


def _attach_sql(path: Path, *, key: str | None, read_only: bool) -> str:
    options = [f"ENCRYPTION_KEY '{key}'"] if key is not None else []
    if read_only:
        options.append("READ_ONLY")
    suffix = f" ({', '.join(options)})" if options else ""
    escaped = str(path).replace("'", "''")
    return f"ATTACH '{escaped}' AS {CATALOG}{suffix}"


def connect(
    path: Path, *, key: str | None, read_only: bool = False, temp_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """A standalone connection with the warehouse file as catalog `warehouse` (scripts)."""
    con = _new_database(temp_dir)
    if key is not None and not read_only:
        con.execute("LOAD httpfs")  # OpenSSL: DuckDB writes encrypted files only with it
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con.execute(_attach_sql(path, key=key, read_only=read_only))
    except duckdb.Error as error:
        raise (_explained(error, path) or error) from error
    con.execute(f"USE {CATALOG}")
    return con


@dataclass
class _Attachment:
    """This process's DuckDB instance and what it has attached, shared by its threads."""

    database: duckdb.DuckDBPyConnection
    pid: int
    temp_dir: Path | None
    attached: tuple[Path, bool] | None = None  # (file, read-only)
    users: int = 0


_LOCK = threading.RLock()  # one user of the warehouse at a time per process, re-entrant
_CURRENT: _Attachment | None = None


@contextmanager
def attached(
    path: Path, *, key: str | None, read_only: bool, temp_dir: Path | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the process's DuckDB instance with `path` attached as `warehouse`.

    The file stays attached while any caller in this process (nested calls included)
    uses it, then is detached so other processes can open it.
    """
    global _CURRENT
    with _LOCK:
        state = _CURRENT
        if state is None or state.pid != os.getpid():  # first use, or a forked child
            state = _CURRENT = _Attachment(_new_database(temp_dir), os.getpid(), temp_dir)
        elif state.temp_dir != temp_dir and state.users == 0:  # another deployment (tests)
            state.database.close()
            state = _CURRENT = _Attachment(_new_database(temp_dir), os.getpid(), temp_dir)
        if state.attached is None:
            if key is not None:
                state.database.execute("LOAD httpfs")  # OpenSSL, to write encrypted files
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                state.database.execute(_attach_sql(path, key=key, read_only=read_only))
            except duckdb.Error as error:
                raise (_explained(error, path) or error) from error
            state.attached = (path, read_only)
        elif state.attached[0] != path or (state.attached[1] and not read_only):
            raise RuntimeError(
                f"{path} is needed {'read-only' if read_only else 'for writing'} while "
                f"{state.attached[0]} is attached {'read-only' if state.attached[1] else ''}"
            )
        state.users += 1
        cursor = state.database.cursor()
        try:
            cursor.execute(f"USE {CATALOG}")
            yield cursor
        except duckdb.Error as error:  # a damaged block shows only when it is read
            raise (_explained(error, path) or error) from error
        finally:
            cursor.close()
            state.users -= 1
            if state.users == 0:
                state.attached = None
                state.database.execute(f"DETACH {CATALOG}")


class Connections(Protocol):
    """Anything that hands out warehouse connections (the file, the Dagster resource)."""

    def connection(
        self, *, read_only: bool = False
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...


@dataclass(frozen=True)
class WarehouseFile:
    """Connections to the warehouse file while a step needs it; the key is read from
    the settings at each use, so it never enters a run's config."""

    path: Path

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = Settings.from_env()
        with attached(
            self.path,
            key=settings.warehouse_key(),
            read_only=read_only,
            temp_dir=settings.data_dir / "tmp",
        ) as con:
            yield con

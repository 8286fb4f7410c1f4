"""The warehouse is encrypted at rest, and its keys stay out of code, config and logs."""

from __future__ import annotations

import stat

import duckdb
import polars as pl
import pytest
from conftest import Deployment

from ctdc_assets.assets.resources import Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.warehouse.io import replace_table

CANARY = "CANARY-warehouse-7f3a9c"


def _write_canary(settings: Settings) -> Warehouse:
    warehouse = Warehouse.from_settings(settings)
    with warehouse.connection() as con:
        replace_table(con, "raw.people", pl.DataFrame({"name": [CANARY] * 1000}))
    return warehouse


def test_the_file_holds_no_plaintext_and_needs_the_key(deployment: Deployment) -> None:
    settings = deployment.settings
    warehouse = _write_canary(settings)
    assert _read(warehouse, "raw.people")["name"][0] == CANARY

    raw_bytes = settings.warehouse_file.read_bytes()
    assert CANARY.encode() not in raw_bytes
    assert b"people" not in raw_bytes  # not even the table name

    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(settings.warehouse_file)).execute("SELECT 1")
    con = duckdb.connect()
    wrong = "00" * 32
    with pytest.raises(duckdb.Error):
        con.execute(f"ATTACH '{settings.warehouse_file}' AS w (ENCRYPTION_KEY '{wrong}')")
        con.execute("SELECT * FROM w.raw.people").fetchall()


def test_keys_are_created_once_with_owner_only_permissions(deployment: Deployment) -> None:
    settings = deployment.settings
    first = settings.warehouse_key()
    key_file = settings.secrets_dir / "warehouse.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.secrets_dir.stat().st_mode) == 0o700
    assert Settings.from_env().warehouse_key() == first
    assert settings.pseudonym_key() == Settings.from_env().pseudonym_key()


def test_a_key_from_the_environment_wins_and_never_enters_resource_config(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "ab" * 32
    monkeypatch.setenv("CTDC_WAREHOUSE_KEY", key)
    settings = Settings.from_env()
    assert settings.warehouse_key() == key
    warehouse = _write_canary(settings)
    assert key not in repr(warehouse) and key not in str(warehouse.model_dump())
    assert not (settings.secrets_dir / "warehouse.key").exists()


def _opened_by_another_process(settings: Settings) -> str:
    """What a second process (another run, `ctdc verify`, a notebook) gets on opening."""
    import subprocess
    import sys

    script = (
        "from pathlib import Path\n"
        "from ctdc_assets.warehouse.database import connect\n"
        f"con = connect(Path({str(settings.warehouse_file)!r}), key={settings.warehouse_key()!r})\n"
        "print(con.execute('SELECT count(*) FROM raw.people').fetchone()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def test_the_file_is_free_for_other_processes_between_steps(deployment: Deployment) -> None:
    """One DuckDB instance per process, but the file is attached only while in use."""
    settings = deployment.settings
    warehouse = _write_canary(settings)
    assert _opened_by_another_process(settings) == "1000"

    with warehouse.connection() as con:  # a step is using it: others must wait
        assert "lock" in _opened_by_another_process(settings).lower()
        with warehouse.connection(read_only=True) as inner:  # nested use, same process
            assert inner.execute("SELECT count(*) FROM raw.people").fetchone()[0] == 1000
        assert con.execute("SELECT count(*) FROM raw.people").fetchone()[0] == 1000
    assert _opened_by_another_process(settings) == "1000"


def test_writing_inside_a_read_only_use_is_refused(deployment: Deployment) -> None:
    warehouse = _write_canary(deployment.settings)
    with (
        warehouse.connection(read_only=True),
        pytest.raises(RuntimeError, match="for writing"),
        warehouse.connection(),
    ):
        pass
    assert _read(warehouse, "raw.people").height == 1000  # and the file is usable after


def _read(warehouse: Warehouse, table: str) -> pl.DataFrame:
    with warehouse.connection(read_only=True) as con:
        return con.execute(f"SELECT * FROM {table}").pl()

"""The production profile: the same code with the Dagster instance on PostgreSQL.

A real PostgreSQL server (Debian's package, installed if missing) on loopback; the
instance is `deploy/dagster.postgres.yaml` unchanged, configured by environment.
"""

from __future__ import annotations

import shutil
import subprocess

import dagster as dg
import pytest
from conftest import Deployment
from services import postgres_server

from ctdc_assets.config import PROJECT_ROOT, Settings
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_runs_and_gate_results_are_stored_in_postgres(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = deployment.data_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    write_sample(deployment.data_dir / "landing", records=400, seed=4)
    with postgres_server() as pg:
        for name, value in {
            "DAGSTER_PG_HOST": pg.host,
            "DAGSTER_PG_PORT": str(pg.port),
            "DAGSTER_PG_USER": pg.user,
            "DAGSTER_PG_PASSWORD": pg.password,
            "DAGSTER_PG_DB": pg.database,
        }.items():
            monkeypatch.setenv(name, value)
        outcome = run_pipeline(Settings.from_env(), selection='key:"raw/hotline"+1')
        assert outcome.success, outcome.summary()
        assert {"raw/hotline", "harmonized/hotline"} <= set(outcome.materialized)

        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            record = instance.get_run_record_by_id(outcome.run_id)
            assert record is not None and record.dagster_run.is_success
            gate = dg.AssetCheckKey(dg.AssetKey(["raw", "hotline"]), "raw_gate")
            executions = instance.event_log_storage.get_latest_asset_check_execution_by_key([gate])
            assert executions[gate].status.value == "SUCCEEDED"

        stored = subprocess.run(
            ["psql", pg.url, "-tAc", "SELECT count(*) FROM runs"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(stored.stdout.strip()) >= 1
        assert not (home / "history").exists(), "nothing may fall back to SQLite files"

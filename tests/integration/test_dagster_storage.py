"""The instance's event log (deploy/dagster.yaml): what the UI and the daemon rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ctdc_assets.config import Settings
from ctdc_assets.dagster_storage import OPEN_FILES, PooledSqliteEventLogStorage
from ctdc_assets.instance import prepare_instance_home


@dg.asset
def tiny() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    monkeypatch.setenv("CTDC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    prepare_instance_home(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        yield instance


def run_tiny(instance: dg.DagsterInstance) -> str:
    job = dg.Definitions(assets=[tiny]).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_another_process_sees_every_event_of_a_run(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    run_id = run_tiny(instance)
    home = Path(os.environ["DAGSTER_HOME"])
    assert (home / "history" / "runs" / f"{run_id}.db").exists()  # where Dagster puts it
    ours = [e.dagster_event_type for e in instance.all_logs(run_id) if e.dagster_event]
    code = (
        "import sys, dagster as dg\n"
        "with dg.DagsterInstance.get() as i:\n"
        f"    logs = i.all_logs({run_id!r})\n"
        "    print(sum(1 for e in logs if e.dagster_event))\n"
        "    print(i.get_latest_materialization_event(dg.AssetKey('tiny')).run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    count, latest = done.stdout.split()
    assert int(count) == len(ours) and dg.DagsterEventType.ASSET_MATERIALIZATION in ours
    assert latest == run_id


def test_reading_many_runs_keeps_few_files_open(instance: dg.DagsterInstance) -> None:
    """The webserver reads every run's file; it must not hold them all open (a file is
    three descriptors: the database, its write-ahead log and its shared memory)."""
    before = len(os.listdir("/proc/self/fd"))
    run_ids = [run_tiny(instance) for _ in range(2 * OPEN_FILES)]
    for run_id in run_ids:
        assert instance.all_logs(run_id)
    assert len(os.listdir("/proc/self/fd")) - before <= 3 * OPEN_FILES

"""Faults as an operator meets them: a killed or interrupted `ctdc run`, lost keys, a
corrupt warehouse, deliveries that shrink or grow, a symlink out of the landing folder.

One deployment (module fixture) on the small sample. `ctdc run` is a real subprocess,
killed with SIGKILL (or interrupted with SIGINT / SIGTERM) the moment the Dagster
instance shows it started the step of the stage under test; each later run must
complete without any repair by hand.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from conftest import Deployment, make_deployment

from ctdc_assets.assets.keys import raw_key
from ctdc_assets.cli import main as cli_main
from ctdc_assets.config import KeyProblem, Settings
from ctdc_assets.instance import prepare_instance_home
from ctdc_assets.quality.report import latest_check_evaluations, quality_report
from ctdc_assets.run_guard import HOST_TAG, PID_TAG
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample
from ctdc_assets.warehouse.database import connect

pytestmark = pytest.mark.slow

RECORDS = 600


def ctdc(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ctdc_assets.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # a failed test must not leave a run behind
            process.kill()
            process.wait()
    return output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    saved = dict(os.environ)
    deployment = make_deployment(tmp_path_factory.mktemp("faults"))
    write_sample(deployment.data_dir / "landing", records=RECORDS, seed=5)
    prepare_instance_home(Settings.from_env())
    try:
        yield deployment
    finally:
        os.environ.clear()
        os.environ.update(saved)


def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get()  # DAGSTER_HOME is the deployment's


def run_of(process: subprocess.Popen[str]) -> dg.DagsterRun | None:
    with instance() as inst:
        for run in inst.get_runs(limit=3):
            if run.tags.get(PID_TAG) == str(process.pid):
                return run
    return None


def started_steps(process: subprocess.Popen[str]) -> list[str]:
    run = run_of(process)
    if run is None:
        return []
    with instance() as inst:
        records = inst.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_START, limit=100
        ).records
    return [r.event_log_entry.step_key or "" for r in records]


def wait_for(process: subprocess.Popen[str], reached: object, timeout: float = 600) -> None:
    """Poll until `reached()` is true; fail (and stop the run) if it ended first."""
    deadline = time.monotonic() + timeout
    while not reached():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the stage was never reached: " + finish(process, 1))
        time.sleep(0.05)


def at_step(process: subprocess.Popen[str], step: str) -> object:
    return lambda: step in started_steps(process)


def releases(site: Deployment) -> set[str]:
    folder = site.data_dir / "releases"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def incomplete(site: Deployment, file: str | None = None) -> object:
    """A release folder being written by this run: one the previous killed run left
    (removed when this run starts) does not count."""
    left = set((site.data_dir / "releases").glob(".incomplete-*"))

    def seen() -> bool:
        folders = set((site.data_dir / "releases").glob(".incomplete-*")) - left
        return any(file is None or (folder / file).exists() for folder in folders)

    return seen


def test_a_killed_run_at_any_stage_never_blocks_the_next(site: Deployment) -> None:
    publish_only = ("--select", 'key:"release/published"')  # its inputs passed their gates
    stages = {
        "raw": ((), lambda p: at_step(p, "raw__hotline")),
        "merge": ((), lambda p: at_step(p, "merged__victims")),
        "publication": ((), lambda p: incomplete(site)),
        "verification": (publish_only, lambda p: incomplete(site, "quality_report.md")),
    }  # quality_report.md is the last file written before the folder is verified
    killed = []
    for stage, (select, marker) in stages.items():
        process = ctdc("run", *select)
        wait_for(process, marker(process))
        process.kill()
        process.wait()
        run = run_of(process)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED, stage
        killed.append(run.run_id)

    done = ctdc("run")
    output = finish(done)
    assert done.returncode == 0, output
    assert "Release published at" in output
    with instance() as inst:
        for run_id in killed:
            assert inst.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert not inst.event_log_storage.get_concurrency_run_ids()  # no slot held
    names = releases(site)
    assert not [n for n in names if n.startswith(".")], names  # no half-written release left
    assert (site.data_dir / "releases" / "latest").resolve().name in names


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_stops_cleanly_and_is_canceled(
    site: Deployment, signum: int, code: int
) -> None:
    before = {name for name in releases(site) if not name.startswith(".")}
    process = ctdc("run", "--select", 'key:"raw/hotline"')  # the step, then its gate
    wait_for(process, at_step(process, "raw__hotline"))
    process.send_signal(signum)
    output = finish(process, timeout=60)
    assert process.returncode == code, output
    assert "canceled" in output.lower()
    run = run_of(process)
    assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
    with instance() as inst:
        assert run.run_id not in inst.event_log_storage.get_concurrency_run_ids()
    assert {name for name in releases(site) if not name.startswith(".")} == before


def test_a_missing_warehouse_key_is_an_error_never_a_new_key(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env()
    connect(settings.warehouse_file, key=settings.warehouse_key()).close()
    settings.warehouse_key_file.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "ctdc_assets.cli", "run"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "CTDC_WAREHOUSE_KEY" in done.stdout and str(settings.warehouse_key_file) in done.stdout
    assert "ctdc warehouse rebuild" in done.stdout
    assert not settings.warehouse_key_file.exists()  # no new key that could never open it


@pytest.mark.parametrize("variable", ["CTDC_WAREHOUSE_KEY", "CTDC_PSEUDONYM_KEY"])
@pytest.mark.parametrize(("value", "says"), [("00", "8 bits"), ("zz" * 32, "not a hexadecimal")])
def test_short_or_malformed_keys_are_refused_by_name(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    settings = Settings.from_env()
    read = settings.warehouse_key if variable == "CTDC_WAREHOUSE_KEY" else settings.pseudonym_key
    with pytest.raises(KeyProblem, match=f"{variable}.*{says}"):
        read()


def test_a_corrupt_warehouse_is_named_corrupt_and_rebuilt(site: Deployment) -> None:
    settings = Settings.from_env()
    if not settings.warehouse_file.exists():
        assert finish(ctdc("run", "--select", 'not key:"release/published"')) is not None
    data = bytearray(settings.warehouse_file.read_bytes())
    data[12288:] = bytes(len(data) - 12288)  # every block after the headers destroyed
    settings.warehouse_file.write_bytes(bytes(data))

    broken = ctdc("run", "--select", 'key:"raw/hotline"')
    output = finish(broken)
    assert broken.returncode == 1
    failed = [line for line in output.splitlines() if line.startswith("  step failed:")]
    assert failed and f"The warehouse {settings.warehouse_file} is corrupt" in failed[0], output
    assert "right key" not in failed[0]

    rebuilt = ctdc("warehouse", "rebuild")
    output = finish(rebuilt)
    assert rebuilt.returncode == 0, output
    assert "set the old warehouse aside" in output.lower()
    with connect(settings.warehouse_file, key=settings.warehouse_key(), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM merged.victims").fetchone()[0] > 0


def _deliver(folder: Path, name: str, text: str) -> Path:
    part = folder / f"{name}.part"
    part.write_text(text, encoding="utf-8")
    part.rename(folder / name)
    return folder / name


def test_a_delivery_that_shrinks_or_balloons_is_blocked_until_accepted(site: Deployment) -> None:
    settings = Settings.from_env()
    hotline = site.data_dir / "landing" / "hotline"
    good = sorted(hotline.glob("*.csv"))[0]
    raw_only = 'key:"raw/hotline"'
    assert run_pipeline(settings, raw_only).success  # the baseline (or the same again)
    header, *rows = good.read_text(encoding="utf-8").splitlines(keepends=True)
    half = _deliver(
        hotline, "hotline_export_20990101.csv", header + "".join(rows[: len(rows) // 2])
    )
    try:
        blocked = run_pipeline(settings, raw_only)
        assert not blocked.success
        (failure,) = blocked.failed_checks
        # The terminal names the file; the instance only the delivery's date and sha256.
        assert failure.startswith(
            "raw/hotline:raw_gate: raw/hotline: hotline_export_20990101.csv (the delivery of "
        ), failure
        assert f"has {len(rows) // 2} records" in failure and f"had {len(rows)}" in failure
        assert "`ctdc accept FILE`" in failure

        assert cli_main(["accept", half.name]) == 0
        assert run_pipeline(settings, raw_only).success
        with instance() as inst:
            report = quality_report(
                latest_check_evaluations(inst, [dg.AssetCheckKey(raw_key("hotline"), "raw_gate")])
            )
        assert "accepted with `ctdc accept` by" in report

        half.unlink()
        big = _deliver(hotline, "hotline_export_20990102.csv", header + "".join(rows * 6))
        blocked = run_pipeline(settings, raw_only)
        assert not blocked.success
        assert "6 times" not in blocked.failed_checks[0]  # counts, not a guess
        assert f"has {len(rows) * 6} records" in blocked.failed_checks[0]
        assert "more than 5 times as many" in blocked.failed_checks[0]
        big.unlink()
    finally:
        for name in ("hotline_export_20990101.csv", "hotline_export_20990102.csv"):
            (hotline / name).unlink(missing_ok=True)
    assert run_pipeline(settings, raw_only).success  # the good delivery again: back to normal


def test_a_symlink_in_a_landing_folder_is_refused_naming_link_and_target(
    site: Deployment, tmp_path: Path
) -> None:
    settings = Settings.from_env()
    hotline = site.data_dir / "landing" / "hotline"
    elsewhere = tmp_path / "other_export.csv"
    elsewhere.write_bytes(sorted(hotline.glob("*.csv"))[0].read_bytes())
    link = hotline / "hotline_export_20990103.csv"
    link.symlink_to(elsewhere)
    try:
        outcome = run_pipeline(settings, 'key:"raw/hotline"')
    finally:
        link.unlink()
    assert not outcome.success
    (failure,) = outcome.failed_steps
    assert f"{link} is a symbolic link to {elsewhere}" in failure


def test_with_the_daemon_running_a_dead_runs_slot_is_freed_for_the_queue(
    deployment: Deployment,
) -> None:
    """What `ctdc ui`'s daemon does, one monitoring pass at a time: the instance profile's
    run monitoring, with its launcher's health check, fails a run whose process is gone,
    and the slot sweep frees its warehouse slot so a queued sensor run can start. (The
    daemon itself is not started: it polls every 15 s; its two iterations run here.)"""
    from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    home = prepare_instance_home(Settings.from_env())
    profile = (home / "dagster.yaml").read_text()
    assert "GuardedRunLauncher" in profile and "enabled: true" in profile
    (home / "dagster.yaml").write_text(  # the sweep waits 15 s after a run ends: 1 s here
        profile.replace(
            "free_slots_after_run_end_seconds: 15", "free_slots_after_run_end_seconds: 1"
        )
    )
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with instance() as inst:
        assert inst.run_monitoring_enabled
        run = inst.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB",
                status=dg.DagsterRunStatus.STARTED,
                tags={PID_TAG: str(gone.pid), HOST_TAG: socket.gethostname()},
            )
        )
        storage = inst.event_log_storage
        storage.initialize_concurrency_limit_to_default("warehouse")
        assert storage.claim_concurrency_slot("warehouse", run.run_id, "raw__hotline").is_claimed
        alive = inst.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB",
                status=dg.DagsterRunStatus.STARTED,
                tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
            )
        )

        reused = inst.add_run(  # its process number now belongs to a newer process
            dg.DagsterRun(job_name="__ASSET_JOB", status=dg.DagsterRunStatus.NOT_STARTED)
        )
        start = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, reused.job_name)
        inst.report_dagster_event(start, reused.run_id)
        time.sleep(2.5)  # /proc/stat btime is whole seconds: starts read up to 1 s early
        newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        inst.add_run_tags(reused.run_id, {PID_TAG: str(newer.pid), HOST_TAG: socket.gethostname()})

        log = logging.getLogger("test")
        for record in inst.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            monitor_started_run(inst, None, record, log)  # type: ignore[arg-type]
        assert inst.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert inst.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        assert inst.get_run_by_id(reused.run_id).status == dg.DagsterRunStatus.FAILURE
        newer.kill()
        newer.wait()

        time.sleep(1.5)
        context = SimpleNamespace(instance=inst)
        list(execute_concurrency_slots_iteration(context, log))  # type: ignore[arg-type]
        assert run.run_id not in storage.get_concurrency_run_ids()
        assert storage.claim_concurrency_slot("warehouse", "queued-run", "raw__hotline").is_claimed

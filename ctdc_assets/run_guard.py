"""A run whose process is gone must not block the next one.

DuckDB allows one writer, so every step that touches the warehouse holds the
`warehouse` pool's only slot. A run killed with `kill -9` (or an out-of-memory kill)
never reports its end: it stays STARTED and keeps its slot, and every later run waits
for it forever. `ctdc run` calls `reap_dead_runs` at start, and the daemon does the
same through run monitoring with `GuardedRunLauncher` (both instance profiles): a run
whose process no longer exists on this host is marked failed and its slots freed.

A run's process is the one that reported its start (or, for `ctdc run`, the `ctdc/pid`
tag written before it starts). Runs of another host (tag `ctdc/host`) are left to
their own host's `ctdc run` or daemon.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType

import dagster as dg
from dagster import DefaultRunLauncher, RunsFilter

from ctdc_assets.dagster_private import CheckRunHealthResult, WorkerStatus, in_progress_run_statuses

PID_TAG = "ctdc/pid"
HOST_TAG = "ctdc/host"

log = logging.getLogger("ctdc")


def process_tags() -> dict[str, str]:
    """Tags that tie a run to this process, so a later start can tell it died."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process executing `run` on this host, or None if unknown or elsewhere."""
    if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
        return None
    if pid := run.tags.get(PID_TAG):
        return int(pid)
    starts = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    event = starts[0].event_log_entry.dagster_event if starts else None
    return event.pid if event is not None else None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet is gone for our purpose."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)


def run_is_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    pid = run_process(instance, run)
    if pid is None or pid == os.getpid():
        return False
    if not process_alive(pid):
        return True
    record = instance.get_run_record_by_id(run.run_id)
    started = record.start_time if record else None
    return started is not None and _process_started_after(pid, started)


def _process_started_after(pid: int, when: float) -> bool:
    """Whether `pid` is a newer process (its number reused, e.g. after a reboot)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: start time
        with open("/proc/stat", encoding="ascii") as system:
            boot = next(float(line.split()[1]) for line in system if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return False  # cannot tell: trust that it is the run's
    return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 1


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark every in-progress run whose process is gone as failed and free its slots."""
    reaped = []
    for record in instance.get_run_records(RunsFilter(statuses=in_progress_run_statuses())):
        run = record.dagster_run
        if not run_is_dead(instance, run):
            continue
        message = (
            f"The process of this run ({run_process(instance, run)}) is gone (killed?): "
            "marked failed and its warehouse slot freed."
        )
        instance.report_run_failed(run, message)
        reaped.append(run.run_id)
        log.warning("Run %s: %s", run.run_id, message)
    for run_id in reaped + _finished_slot_holders(instance):
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return reaped


def _finished_slot_holders(instance: dg.DagsterInstance) -> list[str]:
    """Finished runs that still hold a pool slot (their process died before freeing it)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = list(storage.get_concurrency_run_ids())
    if not holders:
        return []
    live = {
        r.dagster_run.run_id
        for r in instance.get_run_records(
            RunsFilter(run_ids=holders, statuses=in_progress_run_statuses())
        )
    }
    return [run_id for run_id in holders if run_id not in live]


def runs_in_progress(instance: dg.DagsterInstance) -> list[str]:
    return [
        r.dagster_run.run_id
        for r in instance.get_run_records(RunsFilter(statuses=in_progress_run_statuses()))
    ]


class GuardedRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, plus the health check run monitoring needs.

    With it, the daemon's run monitoring (enabled in both instance profiles) marks a
    run failed once its process is gone, whoever started it (`ctdc run` included), and
    frees its slots after `free_slots_after_run_end_seconds`.
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if self.has_instance and run_is_dead(self._instance, run):
            return CheckRunHealthResult(WorkerStatus.FAILED, "the run's process is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)


@contextmanager
def signals_noted() -> Iterator[Callable[[], int | None]]:
    """Note SIGINT and SIGTERM while Dagster handles them (it treats both as SIGINT).

    Dagster interrupts the current step on either and fails the run; the signal's number,
    written by Python to a wake-up pipe, tells the caller which one came, to cancel the
    run instead and exit with 128 + its number as shells expect.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    received: list[int] = []

    def last() -> int | None:
        with suppress(BlockingIOError):
            received.extend(b for b in os.read(read, 512) if b in INTERRUPTS)
        return received[-1] if received else None

    try:
        yield last
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous_term)
        os.close(read)
        os.close(write)


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cancel_interrupted_run(instance: dg.DagsterInstance, signum: int) -> dg.DagsterRun | None:
    """Mark this process's run canceled after a signal stopped it, and free its slots."""
    runs = instance.get_runs(RunsFilter(tags={PID_TAG: str(os.getpid())}), limit=1)
    if not runs:
        return None
    run = runs[0]
    if run.status != dg.DagsterRunStatus.CANCELED:
        instance.report_run_canceled(
            run, f"Canceled: ctdc run received {signal.Signals(signum).name}"
        )
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return instance.get_run_by_id(run.run_id)

"""Measuring a child process: wall, CPU and peak memory, per step from its timeline."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from bench.common import ROOT


@dataclass
class Measured:
    """One child process: how long, how much CPU, how much memory at the peak."""

    command: list[str]
    wall_s: float
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_bytes: int
    peak_tree_rss_bytes: int
    returncode: int
    load_average_during: float
    log: str
    killed_over_rss: bool = False
    timeline: list[tuple[float, int, float]] = field(default_factory=list, repr=False)

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_system_s


class _Sampler(threading.Thread):
    """Every 0.1 s: the summed RSS of a process and its descendants, the process's CPU
    seconds so far (all threads), and (each second) the 1-minute load average.

    The timeline lets the report give each Dagster step its own CPU time and peak memory
    (steps run one after another in the one `ctdc run` process).
    """

    def __init__(self, pid: int, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.limit = limit
        self.killed = False
        self.peak = 0
        self.loads: list[float] = []
        self.timeline: list[tuple[float, int, float]] = []  # (epoch s, tree RSS, CPU s)
        self.done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        ticks = 0
        while not self.done.is_set():
            total = 0
            try:
                cpu = root.cpu_times()
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                break
            self.peak = max(self.peak, total)
            self.timeline.append((time.time(), total, cpu.user + cpu.system))
            if self.limit and total > self.limit and not self.killed:
                # Protect the shared machine: stop the run rather than push it into swap/OOM.
                self.killed = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
            if ticks % 10 == 0:
                self.loads.append(os.getloadavg()[0])
            ticks += 1
            self.done.wait(0.1)


def measure(
    command: list[str], env: dict[str, str], log: Path, *, max_rss: int | None = None
) -> Measured:
    """Run `command` to completion; its wall, CPU and peak memory (its own, not ours).

    The child runs in its own process group; if its process tree's RSS passes `max_rss`
    it is killed (recorded as `killed_over_rss`), so a run that would exhaust the
    machine's memory cannot take other work down with it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = _Sampler(proc.pid, max_rss)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    loads = sampler.loads or [os.getloadavg()[0]]
    return Measured(
        command=[str(c) for c in command],
        wall_s=round(wall, 3),
        cpu_user_s=round(usage.ru_utime, 3),
        cpu_system_s=round(usage.ru_stime, 3),
        # A run is two processes (the run, and Great Expectations'): its peak is their
        # sampled sum, or one process's own high-water mark if that is higher.
        peak_rss_bytes=max(usage.ru_maxrss * 1024, sampler.peak),  # Linux: kilobytes
        peak_tree_rss_bytes=sampler.peak,
        returncode=proc.returncode,
        load_average_during=round(sum(loads) / len(loads), 2),
        log=str(log),
        killed_over_rss=sampler.killed,
        timeline=sampler.timeline,
    )


def _summary(measured: Measured) -> dict[str, object]:
    """The measured figures as JSON (the timeline stays out: it is large)."""
    out = asdict(measured)
    out.pop("timeline")
    return out


def per_step(
    windows: dict[str, tuple[float, float]], timeline: list[tuple[float, int, float]]
) -> dict[str, dict[str, float]]:
    """Each step's CPU seconds and peak RSS, from the sampled timeline of its process."""
    out: dict[str, dict[str, float]] = {}
    last = timeline[-1][0] if timeline else 0.0
    for step, (start, end) in windows.items():
        end = min(end, last) if timeline and end > last else end
        inside = [(t, rss, cpu) for t, rss, cpu in timeline if start <= t <= end]
        before = [cpu for t, _, cpu in timeline if t <= start]
        after = [cpu for t, _, cpu in timeline if t <= end]
        cpu = (after[-1] if after else 0.0) - (before[-1] if before else 0.0)
        peak = max((rss for _, rss, _ in inside), default=0)
        out[step] = {"cpu_s": round(max(cpu, 0.0), 2), "peak_rss_bytes": peak}
    return out


def machine_facts() -> dict[str, object]:
    """What the figures were measured on, and how busy the machine was."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("dagster", "duckdb", "polars", "great-expectations", "pandas", "pyarrow"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": psutil.virtual_memory().total,
        "memory_available_bytes_at_start": psutil.virtual_memory().available,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }

"""Benchmark: the pipeline's per-step and end-to-end time and memory, against a floor.

    make bench                           # 92,000 records
    make bench ARGS="--records 1000000"  # also 10000000

What it does, in a fresh temporary deployment (data folder, warehouse, Dagster
instance), each phase in its own process so its time and peak memory are its own:

1. `generate`: the project's sample generator writes the three deliveries.
2. `floor`: DuckDB alone reads every delivery and writes one merged table with a plain
   query (`CREATE TABLE ... AS SELECT ... UNION ALL BY NAME ...`), into an encrypted
   DuckDB file like the warehouse: the least any pipeline on this machine could spend.
3. `full`: a cold `ctdc run` (the command users run: interpreter start, imports, a new
   instance, every asset and every check, publication included), selection `*`.
4. `incremental`: a newer hotline delivery (1 % more records) lands, then a cold
   `ctdc run --select 'key:"raw/hotline"+ and not key:"release/*"'`: what the issue
   measures, the time for one contributor's delivery to reach a new `merged` and new
   statistics (raw, harmonized, merged, aggregates, dashboard, with their gates). The
   release candidate refreshes after them; publication follows the release schedule.

With `--repeat N` (default 3 up to 200,000 records, where a run takes seconds and this
virtual machine's speed varies by a fifth between identical runs), phases 3 and 4 run N
times, each round in a fresh deployment on the same deliveries; the report gives every
round and takes the median full run and the median incremental run.

Per-step wall times come from the Dagster instance's step stats of each run; peak
memory is the larger of the child's peak resident set size (`wait4` rusage, i.e. the
kernel's own high-water mark) and its process tree's summed RSS, sampled every 0.1 s
(a run is two processes: the run, and Great Expectations'). CPU time
(user + system) is recorded too: on a shared machine it is steadier than wall time.

Results go to `bench/results/<date>-<records>.json` and `.md` (a Markdown table; the
README's Performance section quotes them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
INCREMENTAL = 'key:"raw/hotline"+ and not key:"release/*"'
NEW_DELIVERY = dt.date(2025, 4, 30)
GIB = 1 << 30

# Step key -> the names (gates keep their own names).
STEP_GROUPS = (
    ("raw", re.compile(r"^raw__\w+?(?<!_gate)$")),
    ("harmonize", re.compile(r"^harmonized__\w+?(?<!_gate)$")),
    ("merge", re.compile(r"^merged__victims$")),
    ("gates", re.compile(r"_gate$")),
    ("anonymize", re.compile(r"^release__candidate$")),
    ("statistics", re.compile(r"^statistics__aggregates$")),
    ("dashboard", re.compile(r"^statistics__dashboard$")),
    ("publish", re.compile(r"^release__published$")),
)


# --------------------------------------------------------------------------- measuring


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


# --------------------------------------------------------------------------- phases (children)


def phase_generate(args: argparse.Namespace) -> None:
    from ctdc_assets.sample_data import CONTRIBUTORS, write_sample

    contributors = tuple(args.contributors.split(",")) if args.contributors else CONTRIBUTORS
    written = write_sample(
        Path(args.landing),
        records=args.records,
        seed=args.seed,
        delivery_date=dt.date.fromisoformat(args.delivery_date),
        contributors=contributors,
    )
    for name, path in written.items():
        print(f"{name}: {path} ({path.stat().st_size} bytes)")


def phase_floor(args: argparse.Namespace) -> None:
    """DuckDB alone: every delivery into one merged table, one plain query.

    The table goes into an encrypted DuckDB file, like the warehouse (same extension
    folder, same `httpfs` for encryption); no Dagster, no Polars, no checks.
    """
    import importlib.util

    import duckdb
    import yaml

    started = time.perf_counter()
    landing = Path(args.landing)
    crosswalks = {
        p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "crosswalks").glob("*.yaml")
    }
    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    config: dict[str, str | bool] = {"autoinstall_known_extensions": False}
    spec = importlib.util.find_spec("duckdb_ext")
    if spec and spec.submodule_search_locations:
        config["extension_directory"] = str(
            Path(next(iter(spec.submodule_search_locations))) / "extensions"
        )
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    con.execute("LOAD httpfs")
    con.execute(f"ATTACH '{db}' AS floor (ENCRYPTION_KEY '{secrets.token_hex(32)}')")
    con.execute("USE floor")
    timings: dict[str, float] = {}
    parts: list[str] = []
    xlsx_reader = None
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            continue
        path = files[-1]
        name = folder.name
        quoted = str(path).replace("'", "''")
        if path.suffix == ".csv":
            parts.append(
                f"SELECT '{name}' AS contributor, * FROM read_csv('{quoted}', all_varchar=true)"
            )
        elif path.suffix == ".jsonl":
            parts.append(
                f"SELECT '{name}' AS contributor, * FROM "
                f"read_json('{quoted}', format='newline_delimited')"
            )
        elif path.suffix == ".xlsx":
            pattern = (crosswalks.get(name, {}).get("read") or {}).get("sheet") or "*"
            relation, xlsx_reader = _floor_xlsx(con, path, pattern, name)
            parts.append(f"SELECT '{name}' AS contributor, * FROM {relation}")
    timings["prepare_s"] = time.perf_counter() - started
    query = "CREATE TABLE merged AS " + " UNION ALL BY NAME ".join(parts)
    t0 = time.perf_counter()
    con.execute(query)
    con.execute("CHECKPOINT")
    timings["query_s"] = time.perf_counter() - t0
    rows, columns = con.execute(
        "SELECT (SELECT count(*) FROM merged), (SELECT count(*) FROM (DESCRIBE merged))"
    ).fetchone()
    con.close()
    timings["total_s"] = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "columns": columns,
                "xlsx_reader": xlsx_reader,
                **{k: round(v, 3) for k, v in timings.items()},
            }
        )
    )


def _floor_xlsx(con, path: Path, pattern: str, name: str) -> tuple[str, str]:
    """The spreadsheet as a relation: DuckDB's `excel` extension if it loads, else fastexcel."""
    import fnmatch

    import fastexcel

    sheets = [s for s in fastexcel.read_excel(path).sheet_names if fnmatch.fnmatchcase(s, pattern)]
    try:
        con.execute("LOAD excel")
    except Exception:
        loaded = False
    else:
        loaded = True
    quoted = str(path).replace("'", "''")
    if loaded:
        union = " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_xlsx('{quoted}', sheet='{s}', all_varchar=true)" for s in sheets
        )
        con.execute(f"CREATE TEMP VIEW _{name} AS {union}")
        return f"_{name}", "duckdb excel extension (read_xlsx)"
    # No excel extension offline: fastexcel (Rust, calamine) hands Arrow to DuckDB.
    reader = fastexcel.read_excel(path)
    tables = [reader.load_sheet_by_name(s, dtypes="string").to_arrow() for s in sheets]
    import pyarrow as pa

    con.register(f"_{name}", pa.Table.from_batches(tables))
    return f"_{name}", "fastexcel (calamine) to Arrow; DuckDB excel extension not installed"


# --------------------------------------------------------------------------- the benchmark


def step_stats(dagster_home: Path, run_id: str | None) -> dict[str, object]:
    """Per-step wall seconds and the run's own start/end, from the instance."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        if run_id is None:
            runs = instance.get_runs(limit=1)
            if not runs:
                return {"run_id": None, "steps": {}, "windows": {}}
            run_id = runs[0].run_id
        run = instance.get_run_by_id(run_id)
        stats = instance.get_run_stats(run_id)
        # A step still in progress when the run died ends with the run (or now).
        until = stats.end_time or time.time()
        windows = {
            s.step_key: (s.start_time or 0.0, s.end_time or until)
            for s in instance.get_run_step_stats(run_id)
            if s.start_time
        }
    return {
        "run_id": run_id,
        "status": run.status.value if run else None,
        "run_wall_s": round((stats.end_time or 0) - (stats.start_time or 0), 3),
        "run_start_epoch": stats.start_time,
        "steps": {k: round(end - start, 3) for k, (start, end) in windows.items()},
        "windows": windows,
    }


def grouped(steps: dict[str, float]) -> dict[str, float]:
    """The issue's step names: raw, harmonize, merge, gates, anonymize, statistics, ..."""
    out: dict[str, float] = {}
    for step, seconds in steps.items():
        for group, pattern in STEP_GROUPS:
            if pattern.search(step):
                out[group] = round(out.get(group, 0.0) + seconds, 3)
                break
        else:
            out["other"] = round(out.get("other", 0.0) + seconds, 3)
    return out


def _run_id(log: Path) -> str | None:
    match = re.search(r"^Run ([0-9a-f-]{36}):", log.read_text(errors="replace"), re.MULTILINE)
    return match.group(1) if match else None


@dataclass
class Bench:
    records: int
    seed: int
    date: str
    machine: dict[str, object]
    selection: str
    incremental_selection: str
    phases: dict[str, dict[str, object]] = field(default_factory=dict)
    rounds: list[dict[str, dict[str, object]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    """Where a benchmark runs: its deployment, environment and memory limit."""

    workdir: Path
    env: dict[str, str]
    max_rss: int

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def landing(self) -> Path:
        return self.data / "landing"

    @property
    def me(self) -> list[str]:
        """This script, to run one phase in a child process."""
        return [sys.executable, str(Path(__file__).resolve())]

    def measure(self, command: list[str], log: str) -> Measured:
        return measure(command, self.env, self.workdir / "logs" / log, max_rss=self.max_rss)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def run_bench(args: argparse.Namespace) -> tuple[Path, bool]:
    """Run every phase; write the results; (results file, whether every run succeeded)."""
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ctdc-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    landing = data / "landing"
    reuse = args.reuse_landing and landing.is_dir() and any(landing.glob("*/*"))
    _fresh_deployment(data, keep=landing if reuse else None)
    space = Workspace(workdir, _bench_env(data), int(args.max_rss_gib * GIB))
    bench = Bench(
        records=args.records,
        seed=args.seed,
        date=dt.date.today().isoformat(),
        machine=machine_facts(),
        selection=args.select or "*",
        incremental_selection=INCREMENTAL,
    )
    bench.machine["max_rss_allowed_bytes"] = space.max_rss

    say(f"{args.records:,} records in {workdir} (load {os.getloadavg()[0]:.1f})")
    if not args.no_compile:
        seconds = compile_bytecode(space.env)
        bench.notes.append(
            f"bytecode compiled beforehand ({seconds:.0f} s, not counted), as after "
            "`uv sync --compile-bytecode` or any earlier run"
        )
    _generate_phase(args, space, bench, reuse=reuse)
    if not args.skip_floor:
        _floor_phase(space, bench)
    ok = _run_rounds(args, space, bench)
    return _write_results(args, space, bench, ok), ok


def _bench_env(data: Path) -> dict[str, str]:
    """The environment of every phase: this one's, pointed at the benchmark's deployment."""
    env = dict(os.environ)
    env.update(
        CTDC_DATA_DIR=str(data),
        DAGSTER_HOME=str(data / "dagster_home"),
        PYTHONUNBUFFERED="1",
    )
    for variable in (
        "CTDC_WAREHOUSE",
        "CTDC_PSEUDONYM_KEY",
        "CTDC_WAREHOUSE_KEY",
        "PYTHONDONTWRITEBYTECODE",  # measure what a user's shell does: bytecode is cached
    ):
        env.pop(variable, None)
    return env


def _generate_phase(
    args: argparse.Namespace, space: Workspace, bench: Bench, *, reuse: bool
) -> None:
    """Generate the sample deliveries (unless reused) and record their sizes."""
    landing = space.landing
    if reuse:
        bench.notes.append(f"deliveries reused from {landing} (generated by an earlier run)")
        generate = None
    else:
        generate = space.measure(
            [*space.me, "--phase", "generate", "--landing", str(landing), "--records",
             str(args.records), "--seed", str(args.seed)],
            "generate.log",
        )  # fmt: skip
        _check(generate, "generating sample deliveries")
        say(f"generated in {generate.wall_s:.1f} s")
    files = {p.parent.name: p.stat().st_size for p in landing.glob("*/*") if p.is_file()}
    bench.phases["generate"] = (_summary(generate) if generate else {}) | {"files_bytes": files}


def _floor_phase(space: Workspace, bench: Bench) -> None:
    """DuckDB alone reading every delivery: the floor every step is compared with."""
    floor = space.measure(
        [*space.me, "--phase", "floor", "--landing", str(space.landing), "--db",
         str(space.workdir / "floor" / "floor.duckdb")],
        "floor.log",
    )  # fmt: skip
    _check(floor, "the DuckDB floor")
    detail = json.loads(Path(floor.log).read_text().strip().splitlines()[-1])
    bench.phases["floor"] = _summary(floor) | detail
    shutil.rmtree(space.workdir / "floor", ignore_errors=True)
    say(f"floor: {detail['total_s']:.1f} s ({detail['xlsx_reader']})")


def _run_command(args: argparse.Namespace, bench: Bench) -> tuple[list[str], int]:
    """The full run's command line and how many rounds (one under the profiler)."""
    if not args.profile:
        return [sys.executable, "-m", "ctdc_assets.cli", "run"], args.repeat
    profile = Path(args.out) / f"{bench.date}-{args.records}-profile.html"
    profile.parent.mkdir(parents=True, exist_ok=True)
    bench.notes.append(f"full run under pyinstrument (slower): {profile.name}")
    return [sys.executable, "-m", "pyinstrument", "-r", "html", "-o", str(profile),
            "-m", "ctdc_assets.cli", "run"], 1  # fmt: skip


def _run_rounds(args: argparse.Namespace, space: Workspace, bench: Bench) -> bool:
    """Each round a fresh deployment: the full run, then the incremental; medians kept."""
    run_command, rounds = _run_command(args, bench)
    fulls: list[dict[str, object]] = []
    incrementals: list[dict[str, object]] = []
    ok = True
    for number in range(1, rounds + 1):
        if number > 1:  # a fresh deployment again, on the same deliveries
            _fresh_deployment(space.data, keep=space.landing)
        _remove_new_delivery(space.landing)  # the incremental's, from an earlier round or run
        tag = f"-{number}" if rounds > 1 else ""
        os.sync()  # each phase starts with the disk idle, not writing back the last one's
        full = space.measure([*run_command, "--select", bench.selection], f"full{tag}.log")
        stats = step_stats(space.data / "dagster_home", _run_id(Path(full.log)))
        fulls.append(_phase(full, stats) | {"round": number})
        bench.rounds.append({"full": _brief(fulls[-1])})
        ok = _ran(full, "full run", bench)
        say(f"full run{tag}: {full.wall_s:.1f} s, peak {full.peak_rss_bytes / GIB:.2f} GiB")
        if not ok:
            break
        if args.skip_incremental:
            continue
        ok = _incremental_round(args, space, bench, full, number, tag, incrementals)
        if not ok:
            break
    _keep_medians(bench, fulls, incrementals, rounds)
    return ok


def _incremental_round(
    args: argparse.Namespace,
    space: Workspace,
    bench: Bench,
    full: Measured,
    number: int,
    tag: str,
    incrementals: list[dict[str, object]],
) -> bool:
    """A new hotline delivery, then `ctdc run` of what it changes; whether it succeeded."""
    grown = int(args.records * 1.01)
    new = space.measure(
        [*space.me, "--phase", "generate", "--landing", str(space.landing), "--records",
         str(grown), "--seed", str(args.seed), "--delivery-date", NEW_DELIVERY.isoformat(),
         "--contributors", "hotline"],
        f"generate_incremental{tag}.log",
    )  # fmt: skip
    _check(new, "generating the new hotline delivery")
    os.sync()  # a delivery arrives long after the last run, not while its files flush
    inc = space.measure(
        [sys.executable, "-m", "ctdc_assets.cli", "run", "--select", INCREMENTAL],
        f"incremental{tag}.log",
    )
    stats = step_stats(space.data / "dagster_home", _run_id(Path(inc.log)))
    steps = stats["steps"]
    to_merged = sum(s for k, s in steps.items() if not k.startswith("statistics__"))
    incrementals.append(
        _phase(inc, stats)
        | {
            "round": number,
            "delivery_generation_s": new.wall_s,
            "steps_until_merged_gate_s": round(to_merged, 3),
            "share_of_full": round(inc.wall_s / full.wall_s, 3),
        }
    )
    bench.rounds[-1]["incremental"] = _brief(incrementals[-1])
    ok = _ran(inc, "incremental run", bench)
    say(f"incremental{tag}: {inc.wall_s:.1f} s ({inc.wall_s / full.wall_s:.0%} of full)")
    return ok


def _keep_medians(
    bench: Bench,
    fulls: list[dict[str, object]],
    incrementals: list[dict[str, object]],
    rounds: int,
) -> None:
    bench.phases["full"] = _median(fulls)
    if incrementals:
        median = _median(incrementals)
        median["share_of_full"] = round(median["wall_s"] / bench.phases["full"]["wall_s"], 3)
        bench.phases["incremental"] = median
    if rounds > 1:
        bench.notes.append(
            f"{rounds} rounds, each a fresh deployment: a full run, then the incremental; the "
            "tables show the round with the median full run, and the incremental run of "
            "median time, whose share is of the median full run"
        )


def _write_results(args: argparse.Namespace, space: Workspace, bench: Bench, ok: bool) -> Path:
    """The results as JSON and Markdown; the deployment removed unless kept or failed."""
    bench.machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{bench.date}-{args.records}"
    stem.with_suffix(".json").write_text(json.dumps(asdict(bench), indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(bench) + "\n")
    if not args.keep and ok and not out.resolve().is_relative_to(space.workdir.resolve()):
        shutil.rmtree(space.workdir, ignore_errors=True)  # (never with the results inside it)
    say(f"results: {stem}.json, {stem}.md")
    return stem.with_suffix(".json")


def _fresh_deployment(data: Path, *, keep: Path | None) -> None:
    """Delete the data folder's contents (warehouse, instance, releases), except `keep`."""
    if data.exists():
        for child in data.iterdir():
            if child != keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def _remove_new_delivery(landing: Path) -> None:
    """Remove the incremental's newer hotline delivery, should an earlier round have left it."""
    from ctdc_assets.sample_data import file_names

    for name, file in file_names(NEW_DELIVERY).items():
        (landing / name / file).unlink(missing_ok=True)


def _median(phases: list[dict[str, object]]) -> dict[str, object]:
    """The phase of median wall time (the lower one of an even number): one real run,
    so its steps add up, rather than per-step medians of different runs."""
    ordered = sorted(phases, key=lambda p: p["wall_s"])
    return dict(ordered[(len(ordered) - 1) // 2])


def _brief(phase: dict[str, object]) -> dict[str, object]:
    keys = ("wall_s", "cpu_user_s", "cpu_system_s", "peak_rss_bytes", "load_average_during")
    return {k: phase[k] for k in keys if k in phase} | (
        {"share_of_full": phase["share_of_full"]} if "share_of_full" in phase else {}
    )


def _phase(measured: Measured, stats: dict[str, object]) -> dict[str, object]:
    """A run's figures: wall, CPU and memory, per step and by stage."""
    windows = stats.pop("windows")
    start = stats.get("run_start_epoch")
    before_run = [cpu for t, _, cpu in measured.timeline if start and t <= start]
    return (
        _summary(measured)
        | stats
        | {
            "groups": grouped(stats["steps"]),
            "step_resources": per_step(windows, measured.timeline),
            "cpu_before_run_start_s": round(before_run[-1], 2) if before_run else None,
        }
    )


def compile_bytecode(env: dict[str, str]) -> float:
    """Byte-compile the environment and the project, as `uv sync --compile-bytecode` does.

    A user's second run never compiles source again (Python caches bytecode), but an
    environment with PYTHONDONTWRITEBYTECODE set, or a fresh `uv sync` without
    `--compile-bytecode`, compiles every module on every start: about 10 s of CPU for
    Dagster, Great Expectations, pandas and SciPy. The benchmark measures the cached case.
    """
    import sysconfig

    started = time.perf_counter()
    folders = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *folders, str(ROOT / "ctdc_assets")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def _ran(measured: Measured, what: str, bench: Bench) -> bool:
    """Whether a measured `ctdc run` succeeded; if not, say why in the results."""
    if measured.returncode == 0:
        return True
    why = (
        f"killed: its memory passed {bench.machine['max_rss_allowed_bytes'] / GIB:.0f} GiB"
        if measured.killed_over_rss
        else f"exit {measured.returncode}"
    )
    last = Path(measured.log).read_text(errors="replace").strip().splitlines()[-3:]
    bench.notes.append(f"{what} FAILED ({why}); log {measured.log}: {' / '.join(last)}")
    return False


def _check(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        tail = "\n".join(Path(measured.log).read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"{what} failed (exit {measured.returncode}); log {measured.log}:\n{tail}")


# --------------------------------------------------------------------------- report


def markdown(bench: Bench) -> str:
    """The README's tables: each step's wall and CPU seconds, memory, multiple of the floor."""
    full = bench.phases["full"]
    floor = bench.phases.get("floor", {}).get("total_s")
    lines = _machine_lines(bench, full)
    lines += _step_lines(full, floor)
    lines += _stage_lines(full, floor)
    lines += _measure_lines(bench, full, floor)
    if len(bench.rounds) > 1:
        lines += _round_lines(bench.rounds)
    lines += ["", f"Full run selection: `{bench.selection}`."]
    lines += [f"Note: {n}" for n in bench.notes]
    return "\n".join(lines)


def _multiple(seconds: float, floor: float | None) -> str:
    return f"{seconds / floor:.1f}×" if floor else "–"


def _gib(value: float) -> str:
    return f"{value / GIB:.2f}"


def _machine_lines(bench: Bench, full: dict) -> list[str]:
    machine = bench.machine
    return [
        f"### {bench.records:,} records ({bench.date})",
        "",
        f"Machine: {machine['cpu_count']} cores ({machine['cpu_model']}), "
        f"{machine['memory_bytes'] / GIB:.0f} GiB; Python {machine['python']}, "
        f"DuckDB {machine['versions']['duckdb']}, Polars {machine['versions']['polars']}, "
        f"Dagster {machine['versions']['dagster']}. Load average at start "
        f"{machine['load_average_at_start'][0]}, during the full run "
        f"{full['load_average_during']} (other sessions share this machine: wall times "
        "stretch with the load, CPU seconds much less).",
        "",
    ]


def _step_lines(full: dict, floor: float | None) -> list[str]:
    """Each step of the full run, slowest first, then start-up and the whole run."""
    lines = [
        "| step | wall s | CPU s | peak RSS GiB | × floor (wall) | share of run |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    steps: dict[str, float] = full["steps"]
    resources = full.get("step_resources", {})
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        res = resources.get(step, {})
        lines.append(
            f"| {step.replace('__', '/')} | {seconds:.2f} | {res.get('cpu_s', 0):.2f} | "
            f"{_gib(res.get('peak_rss_bytes', 0))} | {_multiple(seconds, floor)} | "
            f"{seconds / full['wall_s']:.0%} |"
        )
    overhead = full["wall_s"] - sum(steps.values())
    overhead_cpu = (
        full["cpu_user_s"]
        + full["cpu_system_s"]
        - sum(r.get("cpu_s", 0) for r in resources.values())
    )
    return [
        *lines,
        f"| start-up and orchestration (interpreter, imports, instance, between steps) | "
        f"{overhead:.2f} | {overhead_cpu:.2f} | | {_multiple(overhead, floor)} | "
        f"{overhead / full['wall_s']:.0%} |",
        f"| **end to end (cold `ctdc run`)** | **{full['wall_s']:.2f}** | "
        f"**{full['cpu_user_s'] + full['cpu_system_s']:.2f}** | "
        f"**{_gib(full['peak_rss_bytes'])}** | **{_multiple(full['wall_s'], floor)}** | 100% |",
    ]


def _stage_lines(full: dict, floor: float | None) -> list[str]:
    lines = ["", "| by stage | wall s | CPU s | × floor (wall) |", "|---|---:|---:|---:|"]
    steps: dict[str, float] = full["steps"]
    resources = full.get("step_resources", {})
    for group, seconds in sorted(full["groups"].items(), key=lambda kv: -kv[1]):
        cpu = sum(
            resources.get(step, {}).get("cpu_s", 0)
            for step in steps
            if grouped({step: 1.0}).get(group)
        )
        lines.append(f"| {group} | {seconds:.2f} | {cpu:.2f} | {_multiple(seconds, floor)} |")
    return lines


def _measure_lines(bench: Bench, full: dict, floor: float | None) -> list[str]:
    """The floor, the full and incremental runs and the generation, in one table."""
    lines = ["", "| measure | value |", "|---|---|"]
    if floor:
        floor_phase = bench.phases["floor"]
        lines.append(
            f"| floor: DuckDB alone reads every delivery, writes one merged table | "
            f"{floor:.2f} s wall, {floor_phase['cpu_user_s'] + floor_phase['cpu_system_s']:.2f}"
            f" s CPU (process), peak {_gib(floor_phase['peak_rss_bytes'])} GiB; xlsx via "
            f"{floor_phase['xlsx_reader']} |"
        )
    of_median = f" (median of {len(bench.rounds)} rounds)" if len(bench.rounds) > 1 else ""
    lines += [
        f"| full run{of_median}: wall / CPU / peak RSS | {full['wall_s']:.1f} s / "
        f"{full['cpu_user_s'] + full['cpu_system_s']:.1f} s / "
        f"{_gib(full['peak_rss_bytes'])} GiB |",
    ]
    inc = bench.phases.get("incremental")
    if inc:
        lines += [
            "| incremental: new hotline delivery → raw … merged, statistics, dashboard "
            f"(cold `ctdc run --select`) | {inc['wall_s']:.1f} s wall = "
            f"{inc['share_of_full']:.0%} of the full run{of_median}; "
            f"{inc['cpu_user_s'] + inc['cpu_system_s']:.1f} s CPU; steps up to the merged gate "
            f"{inc['steps_until_merged_gate_s']:.1f} s; peak {_gib(inc['peak_rss_bytes'])} GiB |",
        ]
    gen = bench.phases["generate"]
    if "wall_s" in gen:
        lines.append(
            f"| sample generation (not part of the run) | {gen['wall_s']:.1f} s, "
            f"peak {_gib(gen['peak_rss_bytes'])} GiB |"
        )
    return lines


def _round_lines(rounds: list[dict[str, dict[str, object]]]) -> list[str]:
    lines = [
        "",
        "| round (fresh deployment) | full run: wall s | peak RSS GiB | "
        "incremental: wall s | incremental / its full run |",
        "|---:|---:|---:|---:|---:|",
    ]
    for number, measured in enumerate(rounds, 1):
        inc_round = measured.get("incremental")
        lines.append(
            f"| {number} | {measured['full']['wall_s']:.1f} | "
            f"{_gib(measured['full']['peak_rss_bytes'])} | "
            + (
                f"{inc_round['wall_s']:.1f} | {inc_round['share_of_full']:.0%} |"
                if inc_round
                else "– | – |"
            )
        )
    return lines


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=92_000, help="records in all (default 92,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(RESULTS), help="results folder (default bench/results)")
    p.add_argument("--workdir", help="deployment folder (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the deployment folder afterwards")
    p.add_argument("--select", help="full-run selection (default: everything)")
    p.add_argument(
        "--reuse-landing",
        action="store_true",
        help="keep the deliveries already in WORKDIR/data/landing (everything else is new)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="rounds of full run + incremental, each in a fresh deployment; medians are "
        "reported (default 3 up to 200,000 records, else 1: this machine's speed varies)",
    )
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--skip-incremental", action="store_true")
    p.add_argument("--profile", action="store_true", help="full run under pyinstrument (one round)")
    p.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile the environment first"
    )
    p.add_argument(
        "--max-rss-gib",
        type=float,
        default=round(psutil.virtual_memory().total / GIB * 0.85, 1),
        help="kill a phase whose process tree passes this resident memory (default 85%% of RAM)",
    )
    # Internal: one phase in a child process.
    p.add_argument("--phase", choices=("generate", "floor"), help=argparse.SUPPRESS)
    p.add_argument("--landing", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--delivery-date", default="2025-03-31", help=argparse.SUPPRESS)
    p.add_argument("--contributors", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.records <= 200_000 else 1
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    sys.path.insert(0, str(ROOT))
    if args.phase == "generate":
        phase_generate(args)
    elif args.phase == "floor":
        phase_floor(args)
    else:
        _, ok = run_bench(args)
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

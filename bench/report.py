"""The report: the README's Markdown tables of a benchmark's results."""

from __future__ import annotations

from bench.common import GIB, Bench, grouped


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

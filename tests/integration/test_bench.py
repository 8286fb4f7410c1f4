"""The benchmark's own parts, on tiny inputs (the benchmark itself is the measure of speed).

A whole `bench/run.py` takes a cold pipeline run or two; here its pieces are checked
instead: the floor phase on a tiny sample, the step accounting, the report tables.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctdc_assets.config import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench" / "run.py"
MACHINE = {
    "cpu_count": 2,
    "cpu_model": "test",
    "memory_bytes": 24 * 2**30,
    "python": "3.11",
    "versions": {"duckdb": "1.4.4", "polars": "1", "dagster": "1"},
    "load_average_at_start": [0.5, 0.5, 0.5],
}


def _result(bench, **fields):
    """A benchmark's results, as `run_bench` would have them, for the report."""
    return bench.Bench(
        records=1_000,
        seed=7,
        date="2025-01-01",
        machine=MACHINE,
        selection="*",
        incremental_selection=bench.INCREMENTAL,
        **fields,
    )


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ctdc_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["ctdc_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_generate_and_floor_phases_read_every_delivery(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    run = [sys.executable, str(BENCH)]
    subprocess.run(
        [*run, "--phase", "generate", "--landing", str(landing), "--records", "300"],
        check=True,
        capture_output=True,
    )
    assert sorted(p.parent.name for p in landing.glob("*/*")) == [
        "case_agency",
        "hotline",
        "ngo_network",
    ]
    floor = subprocess.run(
        [*run, "--phase", "floor", "--landing", str(landing), "--db", str(tmp_path / "f.duckdb")],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(floor.stdout.strip().splitlines()[-1])
    assert result["rows"] == 300  # every record of the three deliveries in one table
    assert result["total_s"] > 0 and result["xlsx_reader"]


def test_a_new_delivery_for_one_contributor_only(tmp_path: Path) -> None:
    from ctdc_assets.sample_data import split_records, write_sample

    written = write_sample(tmp_path, records=1_000, contributors=("hotline",))
    assert list(written) == ["hotline"]
    lines = written["hotline"].read_text().count("\n")
    assert lines == split_records(1_000)["hotline"] + 1  # header
    with pytest.raises(ValueError, match="unknown contributor"):
        write_sample(tmp_path, records=10, contributors=("nobody",))


def test_steps_are_grouped_as_the_issue_names_them(bench) -> None:
    steps = {
        "raw__hotline": 1.0,
        "raw__hotline_raw_gate": 2.0,
        "harmonized__hotline": 3.0,
        "harmonized__hotline_harmonized_gate": 4.0,
        "merged__victims": 5.0,
        "merged__victims_merged_gate": 6.0,
        "release__candidate": 7.0,
        "statistics__aggregates": 8.0,
        "statistics__dashboard": 9.0,
        "release__published": 10.0,
    }
    assert bench.grouped(steps) == {
        "raw": 1.0,
        "gates": 12.0,
        "harmonize": 3.0,
        "merge": 5.0,
        "anonymize": 7.0,
        "statistics": 8.0,
        "dashboard": 9.0,
        "publish": 10.0,
    }


def test_each_step_gets_its_own_cpu_and_peak_memory(bench) -> None:
    timeline = [(0.0, 100, 0.0), (1.0, 300, 0.5), (2.0, 200, 1.5), (3.0, 900, 2.0)]
    windows = {"a": (0.0, 2.0), "b": (2.0, 3.0)}
    assert bench.per_step(windows, timeline) == {
        "a": {"cpu_s": 1.5, "peak_rss_bytes": 300},
        "b": {"cpu_s": 0.5, "peak_rss_bytes": 900},
    }


def test_report_shows_every_step_against_the_floor(bench) -> None:
    full = {
        "wall_s": 20.0,
        "cpu_user_s": 15.0,
        "cpu_system_s": 1.0,
        "peak_rss_bytes": 2**30,
        "load_average_during": 1.0,
        "steps": {"raw__hotline": 4.0, "merged__victims": 6.0},
        "groups": {"raw": 4.0, "merge": 6.0},
        "step_resources": {
            "raw__hotline": {"cpu_s": 3.0, "peak_rss_bytes": 2**29},
            "merged__victims": {"cpu_s": 5.0, "peak_rss_bytes": 2**30},
        },
    }
    result = _result(
        bench,
        phases={
            "generate": {"wall_s": 1.0, "peak_rss_bytes": 2**28},
            "floor": {
                "total_s": 2.0,
                "cpu_user_s": 1.5,
                "cpu_system_s": 0.1,
                "peak_rss_bytes": 2**28,
                "xlsx_reader": "fastexcel",
            },
            "full": full,
        },
    )
    table = bench.markdown(result)
    assert "| merged/victims | 6.00 | 5.00 | 1.00 | 3.0× | 30% |" in table
    assert "| raw/hotline | 4.00 | 3.00 | 0.50 | 2.0× | 20% |" in table
    assert "**end to end (cold `ctdc run`)** | **20.00** | **16.00**" in table
    assert "floor: DuckDB alone" in table


def test_rounds_report_the_median_runs_and_every_round(bench) -> None:
    def run(wall: float, share: float | None = None) -> dict:
        phase = {"wall_s": wall, "cpu_user_s": wall, "cpu_system_s": 0.0, "peak_rss_bytes": 2**30}
        return phase | ({"share_of_full": share} if share is not None else {})

    fulls = [run(25.0), run(21.0), run(30.0)]
    assert bench._median(fulls)["wall_s"] == 25.0  # one real run, not a blend
    assert bench._median([run(2.0), run(1.0)])["wall_s"] == 1.0  # even: the lower one

    rounds = [
        {"full": run(25.0), "incremental": run(15.0, 0.6)},
        {"full": run(21.0), "incremental": run(11.0, 0.524)},
        {"full": run(30.0), "incremental": run(12.0, 0.4)},
    ]
    full = run(25.0) | {"load_average_during": 1.0, "steps": {}, "groups": {}}
    incremental = run(12.0, 0.48) | {"steps_until_merged_gate_s": 6.0}
    result = _result(
        bench, phases={"generate": {}, "full": full, "incremental": incremental}, rounds=rounds
    )
    table = bench.markdown(result)
    assert "| full run (median of 3 rounds): wall / CPU / peak RSS | 25.0 s" in table
    assert "12.0 s wall = 48% of the full run (median of 3 rounds)" in table
    assert "| 1 | 25.0 | 1.00 | 15.0 | 60% |" in table
    assert "| 3 | 30.0 | 1.00 | 12.0 | 40% |" in table

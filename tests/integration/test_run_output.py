"""What `ctdc run` prints: a line per step as it finishes, a summary with failures
first, and Dagster's own log in a file the summary names (not in the terminal)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import SMALL_SAMPLE, Deployment

from ctdc_assets.runner import RunOutcome
from ctdc_assets.sample_data import write_sample


def test_one_line_per_step_and_the_log_in_a_file(deployment: Deployment) -> None:
    write_sample(deployment.data_dir / "landing", records=SMALL_SAMPLE, seed=8)
    done = subprocess.run(
        [sys.executable, "-m", "ctdc_assets.cli", "run"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    step = re.compile(r"^  (\S+)\s+(\d+\.\d) s\s+([\d,]+ rows)?\s+(done|gate \w+)$")
    steps = {m.group(1): m for line in lines if (m := step.match(line))}
    assert steps["raw/hotline"].group(3) and steps["raw/hotline"].group(4) == "done"
    assert steps["merged/victims"].group(3).replace(",", "").startswith(("11", "12"))
    assert steps["raw/hotline_raw_gate"].group(4).startswith("gate ")
    assert "release/published" in steps
    log = Path(next(line for line in lines if "Dagster's log of the run" in line).split(": ")[-1])
    assert log.is_file() and "STEP_SUCCESS" in log.read_text()
    assert (log.stat().st_mode & 0o077) == 0  # owner-only, like the instance
    for noise in ("Traceback", "BetaWarning", "DEBUG", "RESOURCE_INIT"):
        assert noise not in done.stdout + done.stderr, noise


def test_the_summary_puts_failures_first() -> None:
    outcome = RunOutcome(
        success=False,
        run_id="r",
        materialized=["raw/hotline"],
        failed_checks=["harmonized/hotline:harmonized_gate: failed"],
        warned_checks=["raw/hotline:raw_gate: a warning"],
        skipped_steps=["merged/victims"],
    )
    text = outcome.summary().splitlines()
    order = [
        next(i for i, line in enumerate(text) if marker in line)
        for marker in ("GATE FAILED", "not run", "WARNING", "materialized")
    ]
    assert order == sorted(order)

"""The `ctdc` command as users run it: what it prints and the exit code scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import Deployment

pytestmark = pytest.mark.slow


def ctdc(*args: str) -> subprocess.CompletedProcess[str]:
    """`ctdc` with its output to a pipe, buffered as in a script or a CI log."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-m", "ctdc_assets.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_ctdc_run_reports_the_run_and_exits_with_its_outcome(deployment: Deployment) -> None:
    done = ctdc("run", "--records", "1200")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "materialized 11 assets" in done.stdout
    assert "failed: 0" in done.stdout
    assert "Release published at" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("Finished in")  # nothing lost

    suite_file = deployment.root / "expectations" / "raw" / "hotline.json"
    suite = json.loads(suite_file.read_text())
    for expectation in suite["expectations"]:
        if expectation["kwargs"].get("min_value") == 1:  # "the delivery has no rows"
            expectation["kwargs"]["min_value"] = 10**9
    suite_file.write_text(json.dumps(suite))
    failed = ctdc("run")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "GATE FAILED raw/hotline:raw_gate" in failed.stdout
    assert failed.stdout.rstrip().splitlines()[-1].startswith("Finished in")

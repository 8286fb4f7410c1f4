"""The real Dagster UI: `ctdc ui` (webserver + daemon), a browser, and a launched run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from services import free_port

from ctdc_assets.config import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ASSETS = [
    f"{layer} / {name}"
    for layer, names in {
        "raw": ("case_agency", "hotline", "ngo_network"),
        "harmonized": ("case_agency", "hotline", "ngo_network"),
        "merged": ("victims",),
        "statistics": ("aggregates", "dashboard"),
        "release": ("candidate", "published"),
    }.items()
    for name in names
]
GATES = [
    *((f"raw/{c}", "raw_gate") for c in ("case_agency", "hotline", "ngo_network")),
    *((f"harmonized/{c}", "harmonized_gate") for c in ("case_agency", "hotline", "ngo_network")),
    ("merged/victims", "merged_gate"),
    ("statistics/aggregates", "small_cells_gate"),
    ("release/candidate", "release_gate"),
]

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      assetMaterializations { assetKey { path } }
      assetCheckEvaluations: stepStats { stepKey status }
    }
  }
}
"""
CHECKS = """
query Checks($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks { name executionForLatestMaterialization { status } }
        }
      }
    }
  }
}
"""


def _graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


@contextmanager
def running_ui(log_file: Path) -> Iterator[int]:
    """`ctdc ui` (webserver and daemon) on the current environment's deployment; its port."""
    port = free_port()
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ctdc_assets.cli", "ui", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    _graphql(port, "{ version }", {})
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_file.read_text()[-3000:]) from None
                    time.sleep(1)
            yield port
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def dagster_ui(pipeline) -> Iterator[int]:
    """`ctdc ui` on the deployment `ctdc run` just ran on."""
    deployment, _ = pipeline
    with running_ui(deployment.root / "ui.log") as port:
        yield port


def _open(page, url: str) -> None:
    """Open a UI page and dismiss Dagster's newsletter prompt if it shows."""
    page.goto(url, wait_until="domcontentloaded")
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except PlaywrightTimeout:
        pass


def test_the_ui_shows_the_history_every_asset_and_gate_and_runs_them(
    dagster_ui: int, pipeline, chromium_browser, tmp_path: Path
) -> None:
    port = dagster_ui
    _, outcome = pipeline
    base = f"http://127.0.0.1:{port}"
    page = chromium_browser.new_page(viewport={"width": 1600, "height": 1000})

    # The run `ctdc run` made is in the UI's history, with its gates.
    _open(page, f"{base}/runs/{outcome.run_id}")
    page.get_by_text("Success", exact=False).first.wait_for(timeout=90_000)
    page.screenshot(path=str(tmp_path / "ctdc-run.png"))

    _open(page, f"{base}/assets")
    for name in ASSETS:
        page.get_by_text(name, exact=True).first.wait_for(timeout=90_000)
    page.screenshot(path=str(tmp_path / "catalog.png"))
    for asset, check in GATES:
        _open(page, f"{base}/assets/{asset}?view=checks")
        page.get_by_text(check, exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("Succeeded", exact=False).first.wait_for(timeout=60_000)
    # The whole lineage, from each contributor's raw delivery to the published release.
    _open(page, f"{base}/assets/merged/victims?view=lineage&lineageScope=neighbors&lineageDepth=5")
    for node in ("case_agency", "hotline", "ngo_network", "candidate", "published", "dashboard"):
        page.get_by_text(node, exact=True).first.wait_for(timeout=90_000)
    page.screenshot(path=str(tmp_path / "lineage.png"))

    params = {
        "selector": {
            "repositoryLocationName": "ctdc_assets",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw", "hotline"]}, {"path": ["harmonized", "hotline"]}],
            "assetCheckSelection": [
                {"assetKey": {"path": ["raw", "hotline"]}, "name": "raw_gate"},
                {"assetKey": {"path": ["harmonized", "hotline"]}, "name": "harmonized_gate"},
            ],
        },
        "runConfigData": {},
        "mode": "default",
    }
    launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        status = _graphql(port, RUN, {"runId": run_id})["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(2)
    assert status == "SUCCESS"
    for key, check in (
        (["raw", "hotline"], "raw_gate"),
        (["harmonized", "hotline"], "harmonized_gate"),
    ):
        node = _graphql(port, CHECKS, {"key": {"path": key}})["assetNodeOrError"]
        checks = {
            c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
            for c in node["assetChecksOrError"]["checks"]
        }
        assert checks[check] == "SUCCEEDED", checks

    _open(page, f"{base}/runs/{run_id}")
    page.get_by_text("Success", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    page.close()

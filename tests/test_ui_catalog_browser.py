"""The catalog in the real Dagster UI before any run: a new engineer opens `ctdc ui` on
a deployment with deliveries and nothing materialized yet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import Deployment
from services import free_port
from test_ui_browser import _graphql, _open

from ctdc_assets.config import PROJECT_ROOT
from ctdc_assets.sample_data import write_sample
from ctdc_assets.standard import load_standard

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODE = """
query Node($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { dependencyKeys { path } owners { ... on TeamAssetOwner { team } } }
  }
}
"""


@pytest.fixture
def fresh_ui(deployment: Deployment) -> Iterator[int]:
    write_sample(deployment.data_dir / "landing", records=300, seed=4)
    port = free_port()
    log_file = deployment.root / "ui.log"
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


def test_column_descriptions_and_the_landing_folders_show_before_any_run(
    fresh_ui: int, deployment: Deployment, chromium_browser
) -> None:
    assert not (deployment.data_dir / "warehouse.duckdb").exists()
    port = fresh_ui
    page = chromium_browser.new_page()
    _open(page, f"http://127.0.0.1:{port}/assets/merged/victims")
    description = load_standard().variable("gender").description
    page.get_by_text(description, exact=False).first.wait_for(timeout=90_000)
    node = _graphql(port, NODE, {"key": {"path": ["raw", "hotline"]}})["assetNodeOrError"]
    assert {"path": ["landing", "hotline"]} in node["dependencyKeys"]
    assert node["owners"] == [{"team": "hotline-data"}]
    _open(page, f"http://127.0.0.1:{port}/assets/landing/hotline?view=checks")
    page.get_by_text("freshness_check", exact=False).first.wait_for(timeout=60_000)
    page.close()

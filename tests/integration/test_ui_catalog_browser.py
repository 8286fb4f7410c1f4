"""The catalog in the real Dagster UI before any run: a new engineer opens `ctdc ui` on
a deployment with deliveries and nothing materialized yet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Deployment
from test_ui_browser import _graphql, _open, running_ui

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
    with running_ui(deployment.root / "ui.log") as port:
        yield port


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

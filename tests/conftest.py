"""Shared fixtures: an isolated deployment (data dir, instance, keys) and one pipeline run;
the release policy and its hierarchies; a statistics module's tables from its `victims`.

Every test that runs the pipeline does so in its own temporary data folder, with the
real DuckDB file, real landing files and a real (SQLite-backed) Dagster instance.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from ctdc_assets.anonymize import ReleasePolicy, load_policy
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.config import PROJECT_ROOT, Settings
from ctdc_assets.crosswalk import Crosswalk, load_crosswalks
from ctdc_assets.statistics import compute_aggregates

#: The real published sample (shared/ sits beside the repository's clone, in CI too).
REFERENCE_SAMPLE = next(
    (
        path
        for path in (
            PROJECT_ROOT.parent / "shared" / "reference" / "ctdc" / "ctdc_global_2020_sample.csv",
            Path("/work/shared/reference/ctdc/ctdc_global_2020_sample.csv"),
        )
        if path.exists()
    ),
    PROJECT_ROOT.parent / "shared" / "reference" / "ctdc" / "ctdc_global_2020_sample.csv",
)
SMALL_SAMPLE = 1_200  # records across the three contributors: every shape, fast


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is marked `integration` (`-m "not integration"`
    runs the unit tests alone, as `pytest tests/unit` does)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@dataclass
class Deployment:
    """One isolated deployment: where its data, config and instance live."""

    root: Path
    env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_env()

    @property
    def data_dir(self) -> Path:
        return self.root / "data"


def make_deployment(root: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> Deployment:
    """Point every setting at `root`; crosswalks and expectations are copies one may edit."""
    for folder in ("crosswalks", "expectations"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder, dirs_exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "release_policy.yaml", root / "release_policy.yaml")
    env = {
        "CTDC_DATA_DIR": str(root / "data"),
        "CTDC_CROSSWALKS_DIR": str(root / "crosswalks"),
        "CTDC_EXPECTATIONS_DIR": str(root / "expectations"),
        "CTDC_POLICY": str(root / "release_policy.yaml"),
        "DAGSTER_HOME": str(root / "data" / "dagster_home"),
    }
    for key, value in env.items():
        if monkeypatch is not None:
            monkeypatch.setenv(key, value)
        else:
            os.environ[key] = value
    return Deployment(root, env)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    return make_deployment(tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, object]]:
    """The whole pipeline run once on a small sample; many tests read its results."""
    from ctdc_assets.runner import run_pipeline
    from ctdc_assets.sample_data import write_sample

    saved = dict(os.environ)
    root = tmp_path_factory.mktemp("pipeline")
    deployment = make_deployment(root)
    write_sample(deployment.data_dir / "landing", records=SMALL_SAMPLE, seed=11)
    outcome = run_pipeline(Settings.from_env())
    try:
        yield deployment, outcome
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[object]:
    """A headless Debian chromium driven by Playwright (installed with apt if missing).

    Shared by the browser tests of a module; each test opens its own page. Not by the
    whole session: Playwright's sync API keeps an event loop running in the main thread
    while it is open, and Dagster's `asyncio.run` (automation tests) refuses to run then.
    """
    from playwright.sync_api import sync_playwright
    from services import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --------------------------------------------------------------------------- anonymization


@pytest.fixture(scope="module")
def policy() -> ReleasePolicy:
    """The repository's release policy."""
    return load_policy(PROJECT_ROOT / "release_policy.yaml")


@pytest.fixture(scope="module")
def hierarchies(policy: ReleasePolicy) -> dict[str, Hierarchy]:
    return build_hierarchies(policy)


# --------------------------------------------------------------------------- statistics

#: The threshold the statistics tests protect their tables with (the policy's k).
STATISTICS_K = 11


@pytest.fixture(scope="module")
def tables(victims: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The module's `victims` (each module draws its own) as protected tables."""
    return compute_aggregates(victims, threshold=STATISTICS_K)


@pytest.fixture(scope="module")
def truth(victims: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The same tables with nothing suppressed (threshold 1): the true counts."""
    return compute_aggregates(victims, threshold=1)


# --------------------------------------------------------------------------- crosswalks

#: The shipped crosswalks (`crosswalks/*.yaml`).
CROSSWALKS = PROJECT_ROOT / "crosswalks"
#: The contributors the sample generator (`ctdc_assets.sample_data`) writes deliveries for.
SAMPLE_CONTRIBUTORS = ("case_agency", "hotline", "ngo_network")


@pytest.fixture(scope="module")
def crosswalks() -> dict[str, Crosswalk]:
    """The shipped crosswalks by contributor name (a module may define its own)."""
    return load_crosswalks(CROSSWALKS)


@pytest.fixture(scope="session")
def sample_deliveries(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[int, int], dict[str, Path]]:
    """`write_sample`'s deliveries (by contributor) for a number of records and a seed,
    each written once a session: tests read them, and copy one before changing it."""
    from ctdc_assets.sample_data import write_sample

    written: dict[tuple[int, int], dict[str, Path]] = {}

    def deliveries(records: int, seed: int) -> dict[str, Path]:
        if (records, seed) not in written:
            folder = tmp_path_factory.mktemp(f"sample_{records}_{seed}")
            written[records, seed] = write_sample(folder, records=records, seed=seed)
        return written[records, seed]

    return deliveries

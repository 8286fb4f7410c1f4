"""The adversary reads everything the pipeline writes outside the encrypted warehouse.

Names that look like ordinary names (no marker word, so no pattern could hide them) are
planted in one row of every non-identifier column, in an unknown column and its header,
and in the file name of every sample contributor's delivery (`canaries.plant`). After a
run, none may appear in the release folder, the Dagster instance (its SQLite files,
logs), staging or anywhere else outside the warehouse, and the instance home, staging
and key folders are owner-only. The engineer still sees them through `ctdc findings`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest
from canaries import Canary, files_outside_warehouse, leaks, plant
from conftest import make_deployment

from ctdc_assets.config import Settings

RECORDS = 600  # every contributor has enough rows for a canary per column


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, list[Canary]]]:
    from ctdc_assets.runner import run_pipeline
    from ctdc_assets.sample_data import write_sample

    saved = dict(os.environ)
    deployment = make_deployment(tmp_path_factory.mktemp("side_channels"))
    landing = deployment.data_dir / "landing"
    write_sample(landing, records=RECORDS, seed=13)
    canaries = plant(landing)
    # The worst case: a raw gate that blocks would keep the canaries from the release, so
    # every raw expectation only warns here, and the run goes through to publication.
    for suite in (deployment.root / "expectations" / "raw").glob("*.json"):
        text = suite.read_text(encoding="utf-8")
        suite.write_text(text.replace('"severity": "critical"', '"severity": "warning"'))
    settings = Settings.from_env()
    outcome = run_pipeline(settings)
    try:
        yield settings, canaries, outcome
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_canaries_are_planted_everywhere(planted) -> None:
    settings, canaries, _ = planted
    wheres = {(c.contributor, c.where) for c in canaries}
    for contributor in ("case_agency", "hotline", "ngo_network"):
        assert {(contributor, "header"), (contributor, "file name")} <= wheres
    assert len({c.name for c in canaries}) == len(canaries)  # each traceable to its place
    delivered = list(settings.landing_dir.rglob("*.*"))
    readable = {c for c in canaries if c.where != "file name" and c.contributor != "case_agency"}
    assert leaks(canaries, delivered).keys() >= readable  # (the workbook is zipped)
    names = " ".join(p.name.lower() for p in delivered)
    in_names = [c.name.lower().replace(" ", "_") for c in canaries if c.where == "file name"]
    assert all(name in names for name in in_names)


def test_no_planted_value_outside_the_warehouse(planted) -> None:
    settings, canaries, _ = planted
    files = files_outside_warehouse(
        settings.data_dir, settings.dagster_home, settings.warehouse_file
    )
    assert any(p.suffix == ".db" for p in files), "the instance's SQLite files are searched"
    found = leaks(canaries, files)
    report = {
        f"{c.contributor}/{c.where} ({c.name})": sorted(
            str(p.relative_to(settings.data_dir)) for p in paths
        )
        for c, paths in found.items()
    }
    assert not report, f"{len(found)} of {len(canaries)} canaries found: {report}"


def test_the_release_was_published_despite_the_canaries(planted) -> None:
    settings, _, outcome = planted
    assert outcome.release, outcome.summary()
    assert (settings.releases_dir / "latest" / "quality_report.md").exists()


def test_instance_staging_and_keys_are_owner_only(planted) -> None:
    settings, _, _ = planted
    folders = [settings.dagster_home, settings.data_dir / "staging", settings.secrets_dir]
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        for path in folder.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            if path.is_dir():
                assert mode == 0o700, path
            else:
                assert mode & 0o077 == 0, (path, oct(mode))


def test_findings_show_the_engineer_the_actual_values(planted, capsys) -> None:
    from ctdc_assets.cli import main

    _, canaries, _ = planted
    for contributor in ("case_agency", "hotline", "ngo_network"):
        assert main(["findings", contributor]) == 0
        shown = capsys.readouterr().out
        mine = [c for c in canaries if c.contributor == contributor]
        header = next(c for c in mine if c.where == "header")
        assert header.name in shown  # unknown columns by name
        assert any(c.name in shown for c in mine if c.where not in {"header", "file name"})

"""A contributor that cannot run (a typo in its crosswalk, no raw suite yet) stops only itself.

Played as an engineer would meet it: a working deployment, then a typo in
`crosswalks/hotline.yaml`. The code location must still load, the hotline's assets must
name the file, the line and the key, the other contributors must refresh, and the merged
table must keep the hotline's last harmonized records (which passed their gates).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dagster as dg
import pytest
from conftest import SMALL_SAMPLE, Deployment, make_deployment

from ctdc_assets.assets.resources import Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.definitions import build_definitions
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample


def _records_by_contributor(settings: Settings) -> dict[str, int]:
    with Warehouse.from_settings(settings).connection(read_only=True) as con:
        rows = con.execute("SELECT contributor, count(*) FROM merged.victims GROUP BY 1")
        return dict(rows.fetchall())


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A deployment that ran once, then a typo in hotline.yaml; the typo's line."""
    saved = dict(os.environ)
    deployment = make_deployment(tmp_path_factory.mktemp("broken"))
    try:
        write_sample(deployment.data_dir / "landing", records=SMALL_SAMPLE, seed=5)
        first = run_pipeline(Settings.from_env())
        assert first.success, first.summary()
        path = deployment.root / "crosswalks" / "hotline.yaml"
        lines = path.read_text(encoding="utf-8").splitlines()
        line = next(i for i, text in enumerate(lines) if text.startswith("  gender:"))
        lines[line] = lines[line].replace("gender:", "gendre:")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield line + 1
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_code_location_loads_and_names_the_typo(broken) -> None:
    line = broken
    definitions = build_definitions(Settings.from_env())
    graph = definitions.resolve_asset_graph()
    raw = graph.get(dg.AssetKey(["raw", "hotline"]))
    assert "hotline.yaml" in raw.description and f"line {line}: variables.gendre" in (
        raw.description
    )
    assert "did you mean 'gender'" in raw.description
    assert graph.has(dg.AssetKey(["harmonized", "case_agency"]))


def test_the_other_contributors_run_and_merged_keeps_the_last_good_table(broken) -> None:
    line = broken
    settings = Settings.from_env()
    before = _records_by_contributor(settings)
    outcome = run_pipeline(settings)
    assert not outcome.success
    failed = [s for s in outcome.failed_steps if s.startswith("raw/hotline")]
    assert (
        failed and f"hotline.yaml: invalid crosswalk: line {line}: variables.gendre" in (failed[0])
    ), outcome.summary()
    for contributor in ("case_agency", "ngo_network"):
        assert f"raw/{contributor}" in outcome.materialized
        assert f"harmonized/{contributor}" in outcome.materialized
    assert "merged/victims" in outcome.materialized, outcome.summary()
    assert _records_by_contributor(settings) == before  # the hotline's records are kept
    assert before["hotline"] > 0
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(outcome.run_id)
        assert run.job_name == "refresh_and_publish_job"  # named in the Overview timeline
        observed = instance.fetch_observations(dg.AssetKey(["release", "published"]), limit=1)
        status = observed.records[0].asset_observation.metadata["status"].value
        current = (Settings.from_env().releases_dir / "latest").resolve().name
        assert f"the current release {current} is still the last good one" in status


def test_a_contributor_without_its_raw_suite_waits_with_a_log_line(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """README order: the suite before the delivery. A delivery that arrives first is not
    loaded (a run would only fail at the raw gate); the sensor says why, once."""
    monkeypatch.setenv("CTDC_LANDING_SETTLE_SECONDS", "0")
    write_sample(deployment.data_dir / "landing", records=SMALL_SAMPLE, seed=5)
    (deployment.root / "expectations" / "raw" / "ngo_network.json").unlink()
    defs = build_definitions(Settings.from_env())
    raw = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "ngo_network"]))
    assert raw.description.startswith("NOT READY") and "ngo_network.json is missing" in (
        raw.description
    )
    sensor = defs.get_sensor_def("landing_sensor")
    with dg.instance_for_test() as instance:
        capfd.readouterr()
        result = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        requested = {r.tags["ctdc/contributor"] for r in result.run_requests or []}
        assert requested == {"hotline", "case_agency"}
        said = capfd.readouterr().err
        assert "ngo_network: folder skipped until fixed" in said and "is missing" in said
        later = dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs)
        sensor(later)
        assert "ngo_network" not in capfd.readouterr().err  # said once, not every 30 s

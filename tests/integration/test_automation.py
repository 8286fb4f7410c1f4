"""Deliveries trigger the right refreshes, and only when the gates allow.

The landing sensor and the automation conditions are evaluated against a real
instance and warehouse, as the daemon would, with the runs they ask for executed
in process: one delivery -> one raw run -> that contributor's chain, and nothing
for the others or for the release.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from conftest import Deployment

from ctdc_assets.config import Settings
from ctdc_assets.definitions import build_definitions
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample

pytestmark = pytest.mark.slow
OLD = time.time() - 3600  # a delivery that finished arriving an hour ago


def _evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    sensor = defs.get_sensor_def("landing_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    result = sensor(context)
    return result.run_requests or [], result.cursor


def _deliver(folder: Path, name: str, source: Path) -> Path:
    """A contributor's delivery by atomic rename, as the README protocol says."""
    partial = folder / f"{name}.part"
    shutil.copyfile(source, partial)
    os.utime(partial, (OLD, OLD))
    target = folder / name
    os.rename(partial, target)
    return target


def _timestamps(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict:
    return {key: instance.get_latest_materialization_event(key).timestamp for key in keys}


def _requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    """Asset keys the automation asked to materialize (checks excluded)."""
    return {
        r.key.to_user_string()
        for r in result.results
        if isinstance(r.key, dg.AssetKey) and r.true_subset.size
    }


@pytest.fixture
def loaded(deployment: Deployment, tmp_path: Path):
    """A deployment after a first full `ctdc run` on three contributors."""
    landing = deployment.data_dir / "landing"
    write_sample(landing, records=900, seed=2)
    for path in landing.rglob("*.*"):
        os.utime(path, (OLD, OLD))
    outcome = run_pipeline(Settings.from_env(), selection='not key:"release/published"')
    assert outcome.success, outcome.summary()
    newer = tmp_path / "newer"
    write_sample(newer, records=1_000, seed=3)
    return deployment, newer


def test_a_new_delivery_requests_exactly_one_raw_run(loaded) -> None:
    deployment, newer = loaded
    defs = build_definitions(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        requests, cursor = _evaluate_sensor(defs, instance, None)
        assert requests == [], "deliveries already loaded by ctdc run must not be reloaded"

        hotline = deployment.data_dir / "landing" / "hotline"
        (hotline / "hotline_export_20990101.csv.part").write_text("case_id,report_date\n")
        requests, cursor = _evaluate_sensor(defs, instance, cursor)
        assert requests == [], "a file still being written must not be read"

        source = next((newer / "hotline").iterdir())
        (hotline / "hotline_export_20990101.csv.part").unlink()
        delivered = _deliver(hotline, "hotline_export_20990101.csv", source)
        requests, cursor = _evaluate_sensor(defs, instance, cursor)
        assert [r.asset_selection for r in requests] == [[dg.AssetKey(["raw", "hotline"])]]

        requests, cursor = _evaluate_sensor(defs, instance, cursor)
        assert requests == [], "the same delivery twice gives one run"
        shutil.copyfile(delivered, hotline / "hotline_export_20990102.csv")
        os.utime(hotline / "hotline_export_20990102.csv", (OLD + 60, OLD + 60))
        requests, cursor = _evaluate_sensor(defs, instance, cursor)
        assert requests == [], "the same content under another name is not a new delivery"

        (hotline / "notes.txt.docx").write_text("stray")
        requests, _ = _evaluate_sensor(defs, instance, cursor)
        assert requests == []


def test_a_delivery_refreshes_only_its_contributor_and_never_publishes(loaded) -> None:
    deployment, newer = loaded
    defs = build_definitions(Settings.from_env())
    others = [dg.AssetKey(["raw", c]) for c in ("case_agency", "ngo_network")] + [
        dg.AssetKey(["harmonized", c]) for c in ("case_agency", "ngo_network")
    ]
    with dg.DagsterInstance.get() as instance:
        before = _timestamps(instance, others)
        merged_before = _timestamps(instance, [dg.AssetKey(["merged", "victims"])])
        _deliver(
            deployment.data_dir / "landing" / "hotline",
            "hotline_export_20990101.csv",
            next((newer / "hotline").iterdir()),
        )
        # The automation sensor ticks all the time: it has seen the state before.
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        requests, _ = _evaluate_sensor(defs, instance, None)
        assert len(requests) == 1
        assert run_pipeline(Settings.from_env(), selection='key:"raw/hotline"').success

        refreshed: list[set[str]] = []
        for _ in range(6):  # follow the automation until it asks for nothing more
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = result.cursor
            keys = _requested(result)
            if not keys:
                break
            refreshed.append(keys)
            selection = " or ".join(f'key:"{k}"' for k in sorted(keys))
            assert run_pipeline(Settings.from_env(), selection=selection).success
        flat = set().union(*refreshed)
        assert "harmonized/hotline" in flat and "merged/victims" in flat
        assert {"statistics/aggregates", "release/candidate"} <= flat
        assert "release/published" not in flat
        assert not flat & {k.to_user_string() for k in others}
        assert _timestamps(instance, others) == before
        assert _timestamps(instance, [dg.AssetKey(["merged", "victims"])]) != merged_before


def test_a_delivery_failing_its_raw_gate_leaves_everything_downstream_untouched(loaded) -> None:
    deployment, _ = loaded
    defs = build_definitions(Settings.from_env())
    downstream = [
        dg.AssetKey(["harmonized", "hotline"]),
        dg.AssetKey(["merged", "victims"]),
        dg.AssetKey(["release", "candidate"]),
    ]
    bad = deployment.root / "bad.csv"
    bad.write_text("case_id,report_date,victim_gender\nHL-1,not a date,F\n")
    with dg.DagsterInstance.get() as instance:
        before = _timestamps(instance, downstream)
        _deliver(deployment.data_dir / "landing" / "hotline", "hotline_export_20990101.csv", bad)
        outcome = run_pipeline(Settings.from_env(), selection='key:"raw/hotline"+')
        assert not outcome.success
        assert any(
            "raw/hotline" in failure for failure in outcome.failed_checks + outcome.failed_steps
        )
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert result.total_requested == 0
        assert _timestamps(instance, downstream) == before


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_candidate_violating_k_blocks_publication_now_and_on_the_schedule(
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctdc_assets.release.compose as compose_module

    deployment, _ = loaded
    settings = Settings.from_env()
    assert run_pipeline(settings, selection='key:"release/published"').success
    releases = deployment.data_dir / "releases"
    before = _snapshot(releases)
    latest = (releases / "latest").resolve()

    real = compose_module.compose_candidate

    def leaky(con, source, target, *args, **kwargs):  # one record made unique on its QIs
        composed = real(con, source, target, *args, **kwargs)
        con.execute(
            f"UPDATE {target} SET yearOfRegistration = '1999' "
            f"WHERE rowid = (SELECT min(rowid) FROM {target})"
        )
        return composed

    monkeypatch.setattr(compose_module, "compose_candidate", leaky)
    outcome = run_pipeline(settings, selection='key:"release/candidate"+')
    assert not outcome.success
    assert any("k_anonymity" in f or "k =" in f for f in outcome.failed_checks), outcome.summary()
    assert "release/published" not in outcome.materialized

    # The release schedule (or a person) publishing later is refused too.
    outcome = run_pipeline(settings, selection='key:"release/published"')
    assert not outcome.success
    assert any("release/candidate (release_gate) failed" in f for f in outcome.failed_steps)
    assert _snapshot(releases) == before
    assert (releases / "latest").resolve() == latest

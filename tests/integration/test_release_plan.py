"""The release policy is read once per run: an edit while a run is under way cannot give
the candidate one k and its gate, the statistics and the release another."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml
from conftest import Deployment

from ctdc_assets.config import Settings
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample


def test_a_policy_edited_mid_run_applies_from_the_next_run(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctdc_assets.release.candidate as candidate_module

    settings = Settings.from_env()
    write_sample(deployment.data_dir / "landing", records=900, seed=5)
    policy_file = settings.policy_file
    original = yaml.safe_load(policy_file.read_text())
    assert original["k"] == 11
    edited = original | {"k": 5}
    real = candidate_module.anonymize_table

    def edit_then_anonymize(*args, **kwargs):  # a person saves the policy mid-run
        policy_file.write_text(yaml.safe_dump(edited))
        return real(*args, **kwargs)

    monkeypatch.setattr(candidate_module, "anonymize_table", edit_then_anonymize)
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.summary()

    with dg.DagsterInstance.get() as instance:
        candidate = instance.get_latest_materialization_event(dg.AssetKey(["release", "candidate"]))
        gate = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(["release", "candidate"]), "release_gate")]
        )
        statistics = instance.get_latest_materialization_event(
            dg.AssetKey(["statistics", "aggregates"])
        )
    k_of_candidate = candidate.asset_materialization.metadata["k"].value
    (record,) = gate.values()
    k_of_gate = record.evaluation.metadata["k"].value
    k_of_statistics = statistics.asset_materialization.metadata["threshold"].value
    manifest = json.loads((settings.releases_dir / "latest" / "manifest.json").read_text())
    assert k_of_candidate == k_of_gate == k_of_statistics == manifest["policy"]["k"] == 11
    assert manifest["statistics_threshold"] == 11

    # The next run reads the edited policy.
    monkeypatch.setattr(candidate_module, "anonymize_table", real)
    outcome = run_pipeline(settings, selection='key:"release/candidate"')
    assert outcome.success, outcome.summary()
    with dg.DagsterInstance.get() as instance:
        candidate = instance.get_latest_materialization_event(dg.AssetKey(["release", "candidate"]))
    assert candidate.asset_materialization.metadata["k"].value == 5

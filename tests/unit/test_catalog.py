"""The Dagster catalog as a daily user reads it, before any run: column descriptions,
table names, column lineage, owners, tags, code versions, the landing folders upstream
of raw, and a contributor flagged overdue when its cadence has passed."""

from __future__ import annotations

import os
import time

import dagster as dg
import pytest
from conftest import Deployment

from ctdc_assets.config import Settings
from ctdc_assets.definitions import build_definitions
from ctdc_assets.sample_data import write_sample
from ctdc_assets.standard import load_standard

DAY = 86_400


@pytest.fixture
def defs(deployment: Deployment) -> dg.Definitions:
    write_sample(deployment.data_dir / "landing", records=300, seed=2)
    return build_definitions(Settings.from_env())


def _node(defs: dg.Definitions, *path: str):
    return defs.resolve_asset_graph().get(dg.AssetKey(list(path)))


def test_schemas_and_descriptions_are_there_before_any_run(defs, deployment) -> None:
    assert not (deployment.data_dir / "warehouse.duckdb").exists()
    standard = load_standard()
    gender = standard.variable("gender").description
    for path in (("merged", "victims"), ("release", "candidate"), ("harmonized", "hotline")):
        metadata = _node(defs, *path).metadata
        columns = {c.name: c for c in metadata["dagster/column_schema"].columns}
        assert columns["gender"].description == gender, path
        assert metadata["dagster/table_name"] == ".".join(path)
    release = {
        c.name
        for c in _node(defs, "release", "candidate").metadata["dagster/column_schema"].columns
    }
    assert "citizenshipRegion" in release and "record_key" not in release


def test_column_lineage_follows_the_crosswalk(defs) -> None:
    lineage = _node(defs, "harmonized", "hotline").metadata["dagster/column_lineage"]
    assert [d.column_name for d in lineage.deps_by_column["gender"]] == ["victim_gender"]
    assert (
        lineage.deps_by_column["isForcedLabour"]
        == lineage.deps_by_column["typeOfExploitConcatenated"]
    )  # the flags come from the list's column
    merged = _node(defs, "merged", "victims").metadata["dagster/column_lineage"]
    assert {d.asset_key.path[-1] for d in merged.deps_by_column["gender"]} == {
        "hotline", "case_agency", "ngo_network",
    }  # fmt: skip


def test_owners_tags_and_the_landing_folder_upstream(defs) -> None:
    raw = _node(defs, "raw", "hotline")
    assert raw.owners == ["team:hotline-data"]
    assert raw.tags["ctdc/personal_data"] == "yes" and raw.tags["ctdc/contributor"] == "hotline"
    assert _node(defs, "merged", "victims").tags["ctdc/personal_data"] == "no"
    assert dg.AssetKey(["landing", "hotline"]) in raw.parent_keys


def test_a_changed_crosswalk_changes_its_assets_code_version(defs, deployment) -> None:
    before = {
        k: _node(defs, *k).code_version
        for k in (("raw", "hotline"), ("harmonized", "hotline"), ("harmonized", "case_agency"))
    }
    crosswalk = deployment.root / "crosswalks" / "hotline.yaml"
    crosswalk.write_text(crosswalk.read_text() + "# a comment changes the content\n")
    after = build_definitions(Settings.from_env())
    changed = {k for k, v in before.items() if _node(after, *k).code_version != v}
    assert changed == {("raw", "hotline"), ("harmonized", "hotline")}


def test_an_overdue_contributor_is_flagged(defs, deployment) -> None:
    """The hotline delivers twice a year: its newest delivery, 200 days old, is overdue;
    the case agency (monthly) delivered 10 days ago and is not."""
    landing = deployment.data_dir / "landing"
    for contributor, age in (("hotline", 200), ("case_agency", 10), ("ngo_network", 10)):
        for path in (landing / contributor).iterdir():
            os.utime(path, (time.time() - age * DAY, time.time() - age * DAY))
    graph = defs.resolve_asset_graph()
    checks = [k for k in graph.asset_check_keys if k.asset_key.path[0] == "landing"]
    job = dg.Definitions.merge(
        defs,
        dg.Definitions(
            jobs=[
                dg.define_asset_job(
                    "observe", selection=dg.AssetSelection.keys(*(c.asset_key for c in checks))
                ),
                dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*checks)),
            ]
        ),
    )
    with dg.instance_for_test() as instance:
        job.resolve_job_def("observe").execute_in_process(instance=instance)
        result = job.resolve_job_def("freshness").execute_in_process(
            instance=instance, raise_on_error=False
        )
        verdicts = {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}
    assert verdicts == {"hotline": False, "case_agency": True, "ngo_network": True}

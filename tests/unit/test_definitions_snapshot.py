"""The Dagster graph of the sample contributors, against a committed snapshot.

A refactor must not add, remove or rename an asset, check, sensor, schedule, job or
resource, nor move an asset to another group, change its dependencies, kinds, tags,
owners, pools or automation condition, or a check's blocking flag. When the graph
changes on purpose, refresh the snapshot and commit it with the change:

    CTDC_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/unit/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import Deployment

from ctdc_assets.config import Settings
from ctdc_assets.definitions import build_definitions
from ctdc_assets.sample_data import write_sample

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "definitions.json"
REFRESH = (
    "CTDC_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/unit/test_definitions_snapshot.py"
)


def condition(automation: dg.AutomationCondition | None) -> str | None:
    """The condition and its operands, one level deep (what this project chose, not how
    Dagster builds `eager` inside)."""
    if automation is None:
        return None

    def label(c: dg.AutomationCondition) -> str:
        return c.get_label() or c.name

    children = automation.children
    if not children:
        return label(automation)
    return f"{label(automation)}({', '.join(label(c) for c in children)})"


def selection(assets: dg.AssetSelection | None, graph: Any) -> str | list[str] | None:
    """A selection as Dagster's selection syntax, or the checks it selects."""
    if assets is None:
        return None
    try:
        return assets.to_selection_str()
    except NotImplementedError:  # a selection of check keys has no syntax: list them
        keys = assets.resolve_checks(graph)
        return sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in keys)


def snapshot(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in node.tags.items() if not k.startswith("dagster/kind/")},
            "owners": sorted(node.owners),
            "pools": sorted(node.pools),
            "materializable": node.is_materializable,
            "observable": node.is_observable,
            "automation_condition": condition(node.automation_condition),
        }
    checks = {
        f"{key.asset_key.to_user_string()}:{key.name}": {"blocking": graph.get(key).blocking}
        for key in graph.asset_check_keys
    }
    sensors = {
        sensor.name: {
            "type": sensor.sensor_type.value,
            "default_status": sensor.default_status.value,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "jobs": sorted(target.job_name for target in sensor.targets),
            "asset_selection": selection(sensor.asset_selection, graph),
        }
        for sensor in defs.sensors or ()
    }
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
        }
        for schedule in defs.schedules or ()
    }
    jobs = {job.name: {"selection": selection(job.selection, graph)} for job in defs.jobs or ()}
    return {
        "assets": assets,
        "asset_checks": checks,
        "sensors": sensors,
        "schedules": schedules,
        "jobs": jobs,
        "resources": sorted(defs.resources or {}),
    }


def as_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def defs(deployment: Deployment) -> dg.Definitions:
    write_sample(deployment.data_dir / "landing", records=300, seed=2)
    return build_definitions(Settings.from_env())


def test_the_graph_matches_the_committed_snapshot(defs: dg.Definitions) -> None:
    current = as_text(snapshot(defs))
    if os.environ.get("CTDC_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current, encoding="utf-8")
        return
    assert SNAPSHOT.exists(), f"No snapshot at {SNAPSHOT}: write it with\n    {REFRESH}"
    committed = SNAPSHOT.read_text(encoding="utf-8")
    if current != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                fromfile="tests/snapshots/definitions.json (committed)",
                tofile="build_definitions() now",
            )
        )
        pytest.fail(
            "The Dagster graph differs from its snapshot:\n\n"
            f"{diff}\n"
            "If the change is intended, refresh the snapshot and commit it:\n"
            f"    {REFRESH}",
            pytrace=False,
        )


def test_the_snapshot_sees_an_added_sensor(defs: dg.Definitions) -> None:
    @dg.sensor(name="extra_sensor", target="*")
    def extra_sensor() -> None:
        return None

    before = snapshot(defs)
    after = snapshot(dg.Definitions.merge(defs, dg.Definitions(sensors=[extra_sensor])))
    assert set(after["sensors"]) - set(before["sensors"]) == {"extra_sensor"}
    assert as_text(after) != as_text(before)

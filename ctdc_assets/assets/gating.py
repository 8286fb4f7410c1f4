"""Gates hold across runs, not only within the run where they failed.

Every layer has one gate, a blocking asset check defined next to its assets: it reads
what its asset wrote (from the warehouse, read-only) and judges it with code that does
not share the asset's logic (GX suites for raw, harmonized and merged; independent
recomputations for the statistics and the release candidate). A failed gate stops
everything downstream of its asset in that run.

A blocking check stops its downstream in the same run, but the asset it checked has
already written its table. Materializing the next asset alone later (from the UI, by
`ctdc run --select`, or by the release schedule) would read the rejected table. So
every asset downstream of a gate first asks the instance: did the latest gate of each
input pass, on that input's latest materialization? If not, it refuses to run.
"""

from collections.abc import Iterable, Sequence

import dagster as dg

from ctdc_assets.assets.keys import PUBLISHED_KEY
from ctdc_assets.dagster_private import asset_check_history, completed_check_statuses

#: The gate (blocking check) of each gated asset, by asset key (layer, or layer/name).
GATE_NAMES = {
    "raw": "raw_gate",
    "harmonized": "harmonized_gate",
    "merged/victims": "merged_gate",
    "statistics/aggregates": "small_cells_gate",
    "release/candidate": "release_gate",
}


def gate_of(key: dg.AssetKey) -> dg.AssetCheckKey | None:
    name = GATE_NAMES.get(key.to_user_string()) or GATE_NAMES.get(key.path[0])
    return dg.AssetCheckKey(key, name) if name else None


def require_passed_gates(instance: dg.DagsterInstance, inputs: Iterable[dg.AssetKey]) -> None:
    """Raise `dg.Failure` unless each gated input's latest data passed its gate."""
    problems = []
    for key in inputs:
        gate = gate_of(key)
        if gate is None:
            continue
        name = f"{key.to_user_string()} ({gate.name})"
        latest = instance.fetch_materializations(key, limit=1).records
        materialization = latest[0] if latest else None
        if materialization is None:
            problems.append(f"{key.to_user_string()} has never been materialized")
            continue
        completed = asset_check_history(
            instance, gate, limit=1, status=completed_check_statuses()
        )  # a check planned in a run whose asset step failed never evaluated anything
        evaluation = completed[0].evaluation if completed else None
        target = evaluation.target_materialization_data if evaluation else None
        if target is None or target.storage_id != materialization.storage_id:
            problems.append(f"{name} has not checked the latest materialization")
        elif not evaluation.passed:
            problems.append(f"{name} failed: {evaluation.description or 'see its check'}")
    if problems:
        raise dg.Failure(
            description="Refusing to read data that did not pass its gate: " + "; ".join(problems)
        )


#: Downstream layers refresh when an input changes, but only after its gates passed.
REFRESH_WHEN_GATES_PASS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
#: Layers that never refresh on their own: raw waits for the landing sensor, landing
#: is observed, and publication runs on the release schedule or by hand.
_NOT_REFRESHED = {"raw", "landing"}


def refreshed_when_gates_pass(assets: Sequence[dg.AssetsDefinition]) -> list:
    """The refresh condition, applied once to every asset downstream of a gate (a
    contributor that is not ready does not refresh: it only fails)."""

    def refreshed(spec: dg.AssetSpec) -> dg.AssetSpec:
        if (
            spec.key.path[0] in _NOT_REFRESHED
            or spec.key == PUBLISHED_KEY
            or spec.tags.get("ctdc/ready") == "no"
        ):
            return spec
        return spec.replace_attributes(automation_condition=REFRESH_WHEN_GATES_PASS)

    return dg.map_asset_specs(refreshed, assets)

"""The code location: assembles assets, gates, automation and resources. Nothing else."""

from __future__ import annotations

import re

import dagster as dg

from ctdc_assets.assets.catalog import described, freshness_sensor, landing_assets
from ctdc_assets.assets.contributors import build_contributor_assets, build_contributor_checks
from ctdc_assets.assets.gating import refreshed_when_gates_pass
from ctdc_assets.assets.merged import build_merged_asset, build_merged_checks
from ctdc_assets.assets.not_ready import build_not_ready_assets
from ctdc_assets.assets.release import build_release_assets, build_release_checks
from ctdc_assets.assets.resources import GreatExpectations, ReleasePlanResource, Warehouse
from ctdc_assets.assets.statistics import build_statistics_assets, build_statistics_checks
from ctdc_assets.automation import build_automation
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk, CrosswalkError, load_crosswalks

CONTRIBUTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def active_contributors(settings: Settings) -> tuple[dict[str, Crosswalk], dict[str, str]]:
    """Contributors with a landing folder, by name: those ready to run, and those that
    are not (why: the crosswalk does not load, or the raw suite is missing)."""
    errors: dict[str, CrosswalkError] = {}
    crosswalks = load_crosswalks(settings.crosswalks_dir, broken=errors)
    for name in [*crosswalks, *errors]:
        if not CONTRIBUTOR_NAME.match(name):
            raise ValueError(
                f"crosswalks/{name}.yaml: a contributor name must be lower-case letters, digits "
                "and underscores, starting with a letter (it becomes a table name)"
            )
    delivering = {p.name for p in settings.landing_dir.glob("*") if p.is_dir()}
    unready = {name: str(error) for name, error in errors.items()}
    for name in crosswalks:
        suite = settings.expectations_dir / "raw" / f"{name}.json"
        if not suite.is_file():
            unready[name] = (
                f"{suite} is missing: write the raw suite before the first delivery "
                f"(`ctdc contributor new {name} --delivery FILE` drafts one)"
            )
    ready = {n: c for n, c in sorted(crosswalks.items()) if n in delivering and n not in unready}
    return ready, {n: why for n, why in sorted(unready.items()) if n in delivering}


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    contributors, broken = active_contributors(settings)
    assets = [
        asset
        for name, crosswalk in contributors.items()
        for asset in build_contributor_assets(name, crosswalk, settings)
    ]
    assets += [a for name, e in broken.items() for a in build_not_ready_assets(name, e)]
    assets += [build_merged_asset(list(contributors), settings.cell_key_secret, kept=list(broken))]
    assets += build_statistics_assets(settings)
    checks = [
        *(
            c
            for name, cw in contributors.items()
            for c in build_contributor_checks(name, cw, settings)
        ),
        *build_merged_checks(list(contributors), kept=list(broken)),
        *build_statistics_checks(),
        *build_release_checks(settings),
    ]
    assets += build_release_assets(settings, [key for c in checks for key in c.check_keys])
    landing, freshness = landing_assets(settings, contributors)
    sensors, schedules, jobs = build_automation(settings, contributors, broken)
    if freshness:
        sensors.append(freshness_sensor(freshness))
    return dg.Definitions(
        assets=[*landing, *refreshed_when_gates_pass(described(assets, settings, contributors))],
        asset_checks=[*checks, *freshness],
        sensors=sensors,
        schedules=schedules,
        jobs=jobs,
        resources={
            "warehouse": Warehouse.from_settings(settings),
            "release_plan": ReleasePlanResource.from_settings(settings),
            "great_expectations": GreatExpectations(),
        },
        # Every step that touches the warehouse is in one pool of one, so a process per
        # step (Dagster's default) would buy no parallelism, only ~5 s of imports a step.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location `dagster dev` loads; built when loaded, not when imported, so
    `ctdc run` (which builds its own) does not build the graph twice."""
    return build_definitions()

"""The code location: assembles assets, gates, automation and resources. Nothing else."""

from __future__ import annotations

import re

import dagster as dg

from ctdc_assets.assets.contributors import build_contributor_assets
from ctdc_assets.assets.merged import build_merged_asset
from ctdc_assets.assets.release import build_release_assets
from ctdc_assets.assets.statistics import build_statistics_assets
from ctdc_assets.automation import build_automation
from ctdc_assets.checks import GreatExpectations, build_checks
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk, load_crosswalks
from ctdc_assets.warehouse import Warehouse

CONTRIBUTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def active_contributors(settings: Settings) -> dict[str, Crosswalk]:
    """Contributors with both a crosswalk and a landing folder, by name."""
    crosswalks = load_crosswalks(settings.crosswalks_dir)
    for name in crosswalks:
        if not CONTRIBUTOR_NAME.match(name):
            raise ValueError(
                f"crosswalks/{name}.yaml: a contributor name must be lower-case letters, digits "
                "and underscores, starting with a letter (it becomes a table name)"
            )
    return {
        name: crosswalk
        for name, crosswalk in sorted(crosswalks.items())
        if (settings.landing_dir / name).is_dir()
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    contributors = active_contributors(settings)
    assets = [
        asset
        for name, crosswalk in contributors.items()
        for asset in build_contributor_assets(name, crosswalk, settings)
    ]
    assets += [build_merged_asset(list(contributors), settings.cell_key_secret)]
    assets += build_statistics_assets(settings)
    checks = build_checks(settings, contributors)
    assets += build_release_assets(settings, [key for c in checks for key in c.check_keys])
    sensors, schedules, jobs = build_automation(settings, contributors)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=sensors,
        schedules=schedules,
        jobs=jobs,
        resources={
            "warehouse": Warehouse.from_settings(settings),
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

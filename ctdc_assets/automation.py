"""Sensors and schedules: deliveries refresh the data, a schedule cuts the release.

- `landing_sensor`: a new or changed delivery (by content hash) requests a run of that
  contributor's `raw` asset only. Idempotent (run key = contributor + sha256), with a
  cursor that survives restarts; files still being written are not read.
- `automation_sensor`: evaluates the automation conditions, so harmonized, merged,
  statistics and the release candidate follow, only once their upstream gates passed.
- `release_schedule`: publishes a release monthly (`CTDC_RELEASE_CRON`), never on
  every delivery; `publish_release_job` does it by hand.
"""

import json
import os
import time
from collections.abc import Mapping

import dagster as dg

from ctdc_assets.assets.contributors import raw_key
from ctdc_assets.assets.release import PUBLISHED_KEY
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.landing import refused_links, scan

DEFAULT_RELEASE_CRON = "0 6 1 * *"  # 06:00 UTC on the first day of every month


def _settle_seconds() -> float:
    """A file modified more recently than this may still be growing: wait a tick."""
    return float(os.environ.get("CTDC_LANDING_SETTLE_SECONDS", "10"))


def _loaded_sha256(instance: dg.DagsterInstance, contributor: str) -> str | None:
    """The delivery the latest raw materialization loaded."""
    event = instance.get_latest_materialization_event(raw_key(contributor))
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("delivery_sha256") if materialization else None
    return str(value.value) if value is not None else None


def build_landing_sensor(
    settings: Settings, contributors: Mapping[str, Crosswalk]
) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_sensor",
        description="Starts a raw load when a contributor's landing folder gets a new delivery.",
        asset_selection=[raw_key(c) for c in contributors],
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests = []
        now = time.time()
        for contributor, crosswalk in contributors.items():
            seen = cursor.setdefault(contributor, {"ignored": []})
            deliveries, strays = scan(
                settings.landing_dir / contributor, contributor, crosswalk.read.format
            )
            for link in refused_links(settings.landing_dir / contributor):
                if link not in seen["ignored"]:
                    context.log.warning(f"{contributor}: refused: {link}")
                    seen["ignored"].append(link)
            for stray in strays:
                if stray.path.name not in seen["ignored"]:
                    context.log.info(f"{contributor}: ignoring {stray.path.name}: {stray.reason}")
                    seen["ignored"].append(stray.path.name)
            if not deliveries:
                continue
            current = deliveries[-1]
            stat = current.path.stat()
            if now - stat.st_mtime < _settle_seconds():
                context.log.info(f"{contributor}: {current.name} changed just now; next tick")
                continue
            fingerprint = [current.name, stat.st_size, stat.st_mtime_ns]
            if seen.get("fingerprint") == fingerprint:
                continue  # unchanged since last tick: no need to hash it again
            sha256 = current.sha256()
            seen["fingerprint"] = fingerprint
            if sha256 in (seen.get("sha256"), _loaded_sha256(context.instance, contributor)):
                continue  # already requested, or already loaded (e.g. by `ctdc run`)
            seen["sha256"] = sha256
            requests.append(
                dg.RunRequest(
                    run_key=f"{contributor}:{sha256}",
                    asset_selection=[raw_key(contributor)],
                    tags={"ctdc/contributor": contributor, "ctdc/delivery": current.name},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return landing_sensor


def build_automation(
    settings: Settings, contributors: Mapping[str, Crosswalk]
) -> tuple[list, list, list]:
    """Sensors, schedules and jobs of the code location."""
    publish_job = dg.define_asset_job(
        "publish_release_job",
        selection=dg.AssetSelection.assets(PUBLISHED_KEY),
        description="Publish a new release from the current, verified candidate.",
    )
    schedule = dg.ScheduleDefinition(
        name="release_schedule",
        job=publish_job,
        cron_schedule=os.environ.get("CTDC_RELEASE_CRON", DEFAULT_RELEASE_CRON),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Cuts a release on a fixed calendar (monthly by default).",
    )
    automation = dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    sensors = [automation]
    if contributors:
        sensors.insert(0, build_landing_sensor(settings, contributors))
    return sensors, [schedule], [publish_job]

"""Sensors and schedules: deliveries refresh the data, a schedule cuts the release.

- `landing_sensor`: a new or changed delivery (by content hash) requests a run of that
  contributor's `raw` asset only. Idempotent (run key = contributor + sha256), with a
  cursor that survives restarts; files still being written are not read. File names
  never reach the instance (logs, tags, cursor): a contributor may put a name in one.
- `automation_sensor`: evaluates the automation conditions, so harmonized, merged,
  statistics and the release candidate follow, only once their upstream gates passed.
- `release_schedule`: publishes a release monthly (`CTDC_RELEASE_CRON`), never on
  every delivery; `publish_release_job` does it by hand.
"""

import hashlib
import hmac
import json
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from ctdc_assets.assets.keys import PUBLISHED_KEY, raw_key
from ctdc_assets.assets.release import report_current_release
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.landing import StrayFile, refused_links, scan

DEFAULT_RELEASE_CRON = "0 6 1 * *"  # 06:00 UTC on the first day of every month
REFRESH_JOB = "refresh_job"
PUBLISH_JOB = "publish_release_job"
RUN_JOB = "refresh_and_publish_job"


@dg.run_failure_sensor(
    name="release_status_sensor",
    description="After a failed run, notes on release/published that the current release "
    "is still the last good one.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def release_status_sensor(context: dg.RunFailureSensorContext) -> None:
    report_current_release(context.instance, Settings.from_env(), context.dagster_run.run_id)


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
    settings: Settings, contributors: Mapping[str, Crosswalk], broken: Mapping[str, str]
) -> dg.SensorDefinition:
    """`broken`: contributors that cannot run yet (why: broken crosswalk, no raw suite),
    logged once per reason and not watched until fixed."""

    @dg.sensor(
        name="landing_sensor",
        description="Starts a raw load when a contributor's landing folder gets a new delivery.",
        job_name=REFRESH_JOB,  # each run a raw load, named in the Overview timeline
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests = []
        now = time.time()
        for contributor, error in broken.items():
            if cursor.get(contributor, {}).get("broken") != error:
                context.log.warning(f"{contributor}: folder skipped until fixed: {error}")
            cursor[contributor] = {"ignored": [], "broken": error}
        for contributor, crosswalk in contributors.items():
            seen = cursor.setdefault(contributor, {"ignored": []})
            seen.pop("broken", None)
            request = _new_delivery(context, settings, contributor, crosswalk, seen, now)
            if request is not None:
                requests.append(request)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return landing_sensor


def _new_delivery(
    context: dg.SensorEvaluationContext,
    settings: Settings,
    contributor: str,
    crosswalk: Crosswalk,
    seen: dict,
    now: float,
) -> dg.RunRequest | None:
    """The run request for a contributor's newest delivery, if it is new and settled;
    `seen` is the contributor's entry of the cursor, updated."""
    folder = settings.landing_dir / contributor
    deliveries, strays = scan(folder, contributor, crosswalk.read.format)
    _note_ignored(context, contributor, folder, strays, seen)
    if not deliveries:
        return None
    current = deliveries[-1]
    stat = current.path.stat()
    if now - stat.st_mtime < _settle_seconds():
        context.log.info(f"{contributor}: a delivery changed just now; next tick")
        return None
    fingerprint = [_digest(current.name), stat.st_size, stat.st_mtime_ns]
    if seen.get("fingerprint") == fingerprint:
        return None  # unchanged since last tick: no need to hash it again
    sha256 = current.sha256()
    seen["fingerprint"] = fingerprint
    if sha256 in (seen.get("sha256"), _loaded_sha256(context.instance, contributor)):
        return None  # already requested, or already loaded (e.g. by `ctdc run`)
    seen["sha256"] = sha256
    return dg.RunRequest(
        run_key=f"{contributor}:{sha256}",
        asset_selection=[raw_key(contributor)],
        tags={"ctdc/contributor": contributor, "ctdc/delivery": sha256[:12]},
    )


def _note_ignored(
    context: dg.SensorEvaluationContext,
    contributor: str,
    folder: Path,
    strays: list[StrayFile],
    seen: dict,
) -> None:
    """Log each refused link and stray file once (the cursor keeps a stray's name keyed)."""
    for link in refused_links(folder):
        if link not in seen["ignored"]:
            context.log.warning(f"{contributor}: refused: {link}")
            seen["ignored"].append(link)
    for stray in strays:
        if (digest := _digest(stray.path.name)) not in seen["ignored"]:
            context.log.info(f"{contributor}: ignoring a file: {stray.reason}")
            seen["ignored"].append(digest)


def _digest(name: str) -> str:
    """A file name as the cursor keeps it: keyed, so a guessed name cannot be checked."""
    key = Settings.from_env().pseudonym_key()
    return hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:16]


def build_automation(
    settings: Settings, contributors: Mapping[str, Crosswalk], broken: Mapping[str, str] = {}
) -> tuple[list, list, list]:
    """Sensors, schedules and jobs of the code location."""
    publish_job = dg.define_asset_job(
        PUBLISH_JOB,
        selection=dg.AssetSelection.assets(PUBLISHED_KEY),
        description="Publish a new release from the current, verified candidate.",
    )
    everything = dg.AssetSelection.all()
    refresh_job = dg.define_asset_job(
        REFRESH_JOB,
        selection=everything - dg.AssetSelection.assets(PUBLISHED_KEY),
        description="Load deliveries and refresh everything downstream that their gates let "
        "through, up to the release candidate; never publishes.",
    )
    run_job = dg.define_asset_job(
        RUN_JOB,
        selection=everything,
        description="`ctdc run`: refresh everything, then publish the verified candidate.",
    )
    schedule = dg.ScheduleDefinition(
        name="release_schedule",
        job=publish_job,
        cron_schedule=os.environ.get("CTDC_RELEASE_CRON", DEFAULT_RELEASE_CRON),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Cuts a release on a fixed calendar (monthly by default).",
    )
    with warnings.catch_warnings():  # include_sources is beta; the landing folders need it
        warnings.simplefilter("ignore", dg.BetaWarning)
        everything_observed = dg.AssetSelection.all(include_sources=True)
    automation = dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=everything_observed,  # the landing folders are observed hourly
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    sensors = [automation]
    if contributors or broken:
        sensors.insert(0, build_landing_sensor(settings, contributors, broken))
    sensors.append(release_status_sensor)
    return sensors, [schedule], [refresh_job, publish_job, run_job]

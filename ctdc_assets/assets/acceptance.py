"""Deliveries an engineer accepted despite the volume guard, recorded in the instance.

`ctdc accept DELIVERY` records an observation of the contributor's raw asset naming
the delivery's sha256, who accepted it and when; the raw gate then lets exactly that
content through (a changed file needs accepting again) and says so in the quality
report. The record counts compared come from the raw asset's materializations, so
they survive a warehouse rebuild.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from ctdc_assets.assets.gating import GATE_NAMES
from ctdc_assets.dagster_private import CheckExecutionStatus, asset_check_history
from ctdc_assets.landing import delivery_label
from ctdc_assets.volume import VolumeChange

SUCCEEDED = CheckExecutionStatus.SUCCEEDED

ACCEPTED = "accepted_sha256"


def _value(metadata: dict[str, dg.MetadataValue], key: str) -> object:
    entry = metadata.get(key)
    return entry.value if entry is not None else None


def _label(metadata: dict[str, dg.MetadataValue]) -> str:
    """The delivery by date and checksum (the instance never holds its file name)."""
    return delivery_label(
        _value(metadata, "delivery_date"), str(_value(metadata, "delivery_sha256"))
    )


def delivery_change(
    instance: dg.DagsterInstance, key: dg.AssetKey
) -> tuple[VolumeChange | None, str | None]:
    """The latest delivery's records against the last other delivery that passed the gate.

    A blocked delivery is never the baseline: after a half delivery was refused, the
    next one is compared with the last good one again.
    """
    records = instance.fetch_materializations(key, limit=100).records
    if not records or not records[0].asset_materialization:
        return None, None
    current = dict(records[0].asset_materialization.metadata)
    sha256 = _value(current, "delivery_sha256")
    passed = {
        r.run_id
        for r in asset_check_history(
            instance, dg.AssetCheckKey(key, GATE_NAMES["raw"]), limit=100, status={SUCCEEDED}
        )
    }
    for record in records[1:]:
        previous = (
            dict(record.asset_materialization.metadata) if record.asset_materialization else {}
        )
        if record.run_id in passed and _value(previous, "delivery_sha256") != sha256:
            change = VolumeChange(
                delivery=_label(current),
                records=int(_value(current, "dagster/row_count") or 0),
                previous_delivery=_label(previous),
                previous_records=int(_value(previous, "dagster/row_count") or 0),
            )
            return change, str(sha256)
    return None, str(sha256)


def accept(instance: dg.DagsterInstance, key: dg.AssetKey, delivery: Path, sha256: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=key,
            description=f"delivery sha256 {sha256[:12]} accepted despite its record count",
            metadata={
                ACCEPTED: dg.MetadataValue.text(sha256),
                "accepted_by": dg.MetadataValue.text(getpass.getuser()),
                "accepted_at": dg.MetadataValue.text(
                    datetime.now(UTC).isoformat(timespec="seconds")
                ),
            },
        )
    )


def accepted(instance: dg.DagsterInstance, key: dg.AssetKey, sha256: str | None) -> str | None:
    """'by USER at TIME' when this content was accepted, else None."""
    for record in instance.fetch_observations(key, limit=100).records:
        observation = record.asset_observation
        metadata = dict(observation.metadata) if observation else {}
        if sha256 and _value(metadata, ACCEPTED) == sha256:
            return f"by {_value(metadata, 'accepted_by')} at {_value(metadata, 'accepted_at')}"
    return None

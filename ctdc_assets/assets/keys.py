"""Every asset key, and the warehouse table each one materializes: the one place that
maps the graph onto the warehouse (`dagster/table_name` is set from here)."""

from __future__ import annotations

import dagster as dg

from ctdc_assets.warehouse import tables
from ctdc_assets.warehouse.tables import Table


def raw_key(contributor: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", contributor])


def harmonized_key(contributor: str) -> dg.AssetKey:
    return dg.AssetKey(["harmonized", contributor])


MERGED_KEY = dg.AssetKey(["merged", "victims"])
AGGREGATES_KEY = dg.AssetKey(["statistics", "aggregates"])
DASHBOARD_KEY = dg.AssetKey(["statistics", "dashboard"])
CANDIDATE_KEY = dg.AssetKey(["release", "candidate"])
PUBLISHED_KEY = dg.AssetKey(["release", "published"])

_FIXED = {MERGED_KEY: tables.MERGED, CANDIDATE_KEY: tables.CANDIDATE}
_PER_CONTRIBUTOR = {"raw": tables.raw, "harmonized": tables.harmonized}


def table_of(key: dg.AssetKey) -> Table | None:
    """The table an asset materializes (None: files, or a set of tables)."""
    if key in _FIXED:
        return _FIXED[key]
    layer = _PER_CONTRIBUTOR.get(key.path[0])
    return layer(key.path[-1]) if layer and len(key.path) == 2 else None

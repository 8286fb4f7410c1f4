"""What the Dagster catalog says about each asset, derived from the standard, the
crosswalks, the suites and the policy, so it is there before any run and never drifts.

- `dagster/column_schema` (with the standard's descriptions), `dagster/table_name` and
  `dagster/column_lineage` (each standard variable from the source columns its
  crosswalk rule reads; merged from every harmonized table; the release from merged);
- owners (a contributor's `focal_point`, the team for shared assets) and tags (layer,
  contributor, personal data);
- a `code_version` from the content of the files that decide what the asset computes,
  so a changed crosswalk, suite or policy marks the asset (and what follows) unsynced.

Applied to the built assets with `map_asset_specs`, so the asset factories stay about
computing. The landing folders are observable source assets upstream of `raw`, each
with a freshness check from the contributor's cadence (`landing_assets`). Why a
freshness *check* and not Dagster 1.12's `FreshnessPolicy`, which supersedes it: the
policy's evaluator reads only the last materialization, and `ctdc run` re-materializes
`raw` from the same delivery; what says a contributor is overdue is when its newest
delivery arrived, the source asset's `dagster/last_updated_timestamp`, which the check
reads.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from ctdc_assets.anonymize.codebook import codebook_extension
from ctdc_assets.anonymize.policy import load_policy
from ctdc_assets.assets.keys import CANDIDATE_KEY, MERGED_KEY, harmonized_key, raw_key, table_of
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.crosswalk.model import ListRule, rule_columns
from ctdc_assets.landing import scan
from ctdc_assets.standard import STANDARD_FILE, Standard, load_standard

TEAM = "team:ctdc-data"
CADENCE = {
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "quarterly": timedelta(days=92),
    "twice_yearly": timedelta(days=183),
    "yearly": timedelta(days=366),
}
#: Tables of the warehouse that hold personal data (the raw layer only).
PERSONAL_LAYERS = {"raw"}


def _quietly(decorator):
    """`decorator`, without its beta warning on every code-location load."""

    def call(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return decorator(*args, **kwargs)

    return call


def landing_key(contributor: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", contributor])


def landing_assets(
    settings: Settings, contributors: Mapping[str, Crosswalk]
) -> tuple[list[dg.SourceAsset], list[dg.AssetChecksDefinition]]:
    """One observable source asset per landing folder (data version: the newest
    delivery's sha256; last update: when it arrived) and its freshness check."""
    sources, checks = [], []
    for name, crosswalk in contributors.items():
        folder = settings.landing_dir / name

        @_quietly(dg.observable_source_asset)(
            key=landing_key(name),
            group_name="landing",
            description=f"Deliveries of {name} in {folder} (the newest is loaded by raw).",
            owners=[crosswalk.focal_point or TEAM],
            tags={"ctdc/layer": "landing", "ctdc/contributor": name, "ctdc/personal_data": "yes"},
            metadata={"folder": dg.MetadataValue.path(str(folder)), "cadence": crosswalk.cadence},
            automation_condition=dg.AutomationCondition.cron_tick_passed("0 * * * *"),
        )
        def landing(folder: Path = folder, name: str = name, fmt: str = crosswalk.read.format):
            deliveries, _ = scan(folder, name, fmt)
            if not deliveries:
                return dg.ObserveResult(metadata={"deliveries": 0})
            newest = deliveries[-1]
            arrived = newest.path.stat().st_mtime
            return dg.ObserveResult(
                data_version=dg.DataVersion(newest.sha256()),
                metadata={
                    "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(arrived),
                    "deliveries": len(deliveries),
                    "newest_delivery_date": datetime.fromtimestamp(arrived, UTC).date().isoformat(),
                },
            )

        sources.append(landing)
        with warnings.catch_warnings():  # superseded, see the module docstring
            warnings.simplefilter("ignore", dg.SupersessionWarning)
            checks += dg.build_last_update_freshness_checks(
                assets=[landing_key(name)], lower_bound_delta=CADENCE[crosswalk.cadence]
            )
    return sources, checks


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the landing freshness checks (daemon), so an overdue contributor shows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, default_status=dg.DefaultSensorStatus.RUNNING
        )


def described(
    assets: Iterable[dg.AssetsDefinition],
    settings: Settings,
    contributors: Mapping[str, Crosswalk],
) -> list[dg.AssetsDefinition]:
    """`assets` with the catalog's metadata, owners, tags and code versions."""
    standard = load_standard()
    specs = _CatalogSpecs(settings, contributors, standard)
    return [asset.map_asset_specs(specs.describe) for asset in assets]


class _CatalogSpecs:
    def __init__(
        self, settings: Settings, contributors: Mapping[str, Crosswalk], standard: Standard
    ) -> None:
        self.settings = settings
        self.contributors = contributors
        self.standard = standard
        policy = load_policy(settings.policy_file)
        extension = codebook_extension(policy, standard=standard)
        self.release_columns = list(extension.release_columns)
        self.region_descriptions = {r.name: r.description for r in extension.region_columns}
        self.region_sources = {r.name: r.derived_from for r in extension.region_columns}

    def describe(self, spec: dg.AssetSpec) -> dg.AssetSpec:
        layer, name = spec.key.path[0], spec.key.path[-1]
        contributor = name if name in self.contributors else None
        crosswalk = self.contributors.get(name)
        owner = crosswalk.focal_point if crosswalk and crosswalk.focal_point else TEAM
        tags = {
            "ctdc/layer": layer,
            "ctdc/personal_data": "yes" if layer in PERSONAL_LAYERS else "no",
            **({"ctdc/contributor": contributor} if contributor else {}),
        }
        metadata = dict(self._table(spec.key))
        deps = list(spec.deps)
        if layer == "raw" and contributor:
            deps.append(dg.AssetDep(landing_key(contributor)))
        return spec.replace_attributes(
            owners=[owner],
            code_version=self._code_version(layer, contributor),
            deps=deps,
        ).merge_attributes(tags=tags, metadata=metadata)

    def _table(self, key: dg.AssetKey) -> dict[str, object]:
        layer, name = key.path[0], key.path[-1]
        standard = self.standard
        described = {v.name: v.description for v in standard.variables + standard.internal}
        if layer in ("harmonized", "merged"):
            columns = standard.columns + standard.internal_columns
            lineage = (
                self._crosswalk_lineage(name)
                if layer == "harmonized"
                else {
                    c: [
                        dg.TableColumnDep(asset_key=harmonized_key(h), column_name=c)
                        for h in self.contributors
                    ]
                    for c in columns
                }
            )
            return {
                "dagster/table_name": str(table_of(key)),
                "dagster/column_schema": _schema(columns, described),
                "dagster/column_lineage": dg.TableColumnLineage(lineage),
            }
        if key == CANDIDATE_KEY:
            return {
                "dagster/table_name": str(table_of(key)),
                "dagster/column_schema": _schema(
                    self.release_columns, described | self.region_descriptions
                ),
                "dagster/column_lineage": dg.TableColumnLineage(
                    {
                        c: [
                            dg.TableColumnDep(
                                asset_key=MERGED_KEY, column_name=self.region_sources.get(c, c)
                            )
                        ]
                        for c in self.release_columns
                    }
                ),
            }
        if layer == "raw":
            return {"dagster/table_name": str(table_of(key))}
        return {}

    def _crosswalk_lineage(self, contributor: str) -> dict[str, list[dg.TableColumnDep]]:
        crosswalk = self.contributors.get(contributor)
        if crosswalk is None:
            return {}
        raw = raw_key(contributor)
        lineage: dict[str, list[dg.TableColumnDep]] = {}
        for variable, rule in crosswalk.variables.items():
            deps = [dg.TableColumnDep(asset_key=raw, column_name=c) for c in rule_columns(rule)]
            if not deps:
                continue  # a constant
            produced = [variable]
            if isinstance(rule, ListRule):
                produced += [f.name for f in self.standard.flags_of(variable)]
                produced += list(rule.list.combined)
            for column in produced:
                lineage[column] = deps
        return lineage

    def _code_version(self, layer: str, contributor: str | None) -> str:
        settings = self.settings
        files: list[Path] = [STANDARD_FILE]
        if contributor:
            files.append(settings.crosswalks_dir / f"{contributor}.yaml")
            files.append(settings.expectations_dir / "raw" / f"{contributor}.json")
            if layer == "harmonized":
                files.append(settings.expectations_dir / "harmonized.json")
        elif layer == "merged":
            files.append(settings.expectations_dir / "merged.json")
        elif layer in ("statistics", "release"):
            files.append(settings.policy_file)
        return _content_hash(files)


def _schema(columns: Sequence[str], descriptions: Mapping[str, str]) -> dg.TableSchema:
    standard = load_standard()
    types = {v.name: v.duckdb_type for v in standard.variables + standard.internal}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c, types.get(c, "VARCHAR"), description=descriptions.get(c))
            for c in columns
        ]
    )


def _content_hash(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
    return digest.hexdigest()[:16]

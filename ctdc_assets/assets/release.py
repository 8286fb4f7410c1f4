"""`release/candidate` (k-anonymized table) and `release/published` (the bundle on disk).

Publication is downstream of every gate and never automatic on a delivery: it runs
on the release schedule or by hand, and writes a new folder atomically.
"""

import json
from collections.abc import Sequence

import dagster as dg
import duckdb
import polars as pl

from ctdc_assets.anonymize import audit_release, failures
from ctdc_assets.anonymize.audit import AuditFinding, numbered_table
from ctdc_assets.anonymize.release_diff import previous_records, release_diff
from ctdc_assets.assets.gating import GATE_NAMES, require_passed_gates
from ctdc_assets.assets.keys import (
    AGGREGATES_KEY,
    CANDIDATE_KEY,
    DASHBOARD_KEY,
    MERGED_KEY,
    PUBLISHED_KEY,
)
from ctdc_assets.assets.metadata import markdown_table, table_metadata
from ctdc_assets.assets.resources import POOL, ReleasePlanResource, Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.quality.report import latest_check_evaluations
from ctdc_assets.release.bundle import latest_release
from ctdc_assets.release.plan import ReleasePlan
from ctdc_assets.release.publish import publish_release
from ctdc_assets.warehouse.io import replace_table
from ctdc_assets.warehouse.tables import CANDIDATE, CANDIDATE_FIGURES, FRESH, MERGED


def figures_table(figures: dict) -> str:
    """Our method and the CTDC method side by side, for the UI and the report."""
    ours, ctdc = figures["ours"], figures["ctdc_method"]
    rows = [
        (name, _figure(value), _figure(ctdc.get(name)))
        for name, value in ours.items()
        if not isinstance(value, dict | list)
    ]
    return markdown_table(rows, ["figure", "this release", "CTDC method (delete small classes)"])


def _figure(value: object) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def build_release_assets(
    settings: Settings, gates: Sequence[dg.AssetCheckKey]
) -> list[dg.AssetsDefinition]:
    """`gates`: every check whose latest verdict goes into the quality report."""

    @dg.asset(
        key=CANDIDATE_KEY,
        deps=[MERGED_KEY],
        group_name="release",
        pool=POOL,
        kinds={"duckdb", "polars"},
        description=(
            "The record-level release table: k-anonymized per release_policy.yaml by optimal "
            "generalization plus local suppression, with region columns."
        ),
    )
    def candidate(
        context: dg.AssetExecutionContext, warehouse: Warehouse, release_plan: ReleasePlanResource
    ) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [MERGED_KEY])
        # Imported here: the anonymizer needs pandas (~0.5 s to import), and most runs (a
        # delivery's refresh) never reach this step.
        from ctdc_assets.release.candidate import (
            anonymize_table,
            figures_of_table,
            write_candidate,
        )
        from ctdc_assets.release.compose import compose_candidate

        plan = release_plan.plan
        policy, given = plan.policy, {"standard": plan.standard, "hierarchies": plan.hierarchies}
        with warehouse.connection(read_only=True) as con:
            result = anonymize_table(con, MERGED, policy, **given)
        generalization = result.recoding.generalization
        with warehouse.connection() as con:
            write_candidate(con, MERGED, FRESH, result, policy, keys=True, **given)
            composition = compose_candidate(con, MERGED, CANDIDATE, plan)
            composed = composition.report() if composition else None
            figures = result.figures
            if composition is not None:
                figures = figures_of_table(con, CANDIDATE, MERGED, policy, result.recoding, **given)
            replace_table(
                con,
                CANDIDATE_FIGURES,
                pl.DataFrame(
                    {
                        "figures": [json.dumps(figures)],
                        "generalization": [json.dumps(generalization)],
                        "merged_records": [result.recoding.records_total],
                        "composition": [json.dumps(composed)],
                    }
                ),
            )
            metadata = table_metadata(con, CANDIDATE)
        return dg.MaterializeResult(
            metadata=metadata
            | {
                "k": dg.MetadataValue.int(policy.k),
                "generalization": dg.MetadataValue.json(generalization),
                "utility_and_risk": dg.MetadataValue.md(figures_table(figures)),
                "composition_with_last_release": dg.MetadataValue.json(
                    composed or {"first_release": True}
                ),
            }
        )

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[CANDIDATE_KEY, AGGREGATES_KEY, DASHBOARD_KEY],
        group_name="release",
        pool=POOL,
        kinds={"csv", "parquet"},
        description=(
            "A new, versioned release folder under data/releases/ (records CSV and Parquet, "
            "codebook, datapackage.json, manifest with checksums, quality report, statistics, "
            "dashboard), written atomically; earlier releases are never touched."
        ),
    )
    def published(
        context: dg.AssetExecutionContext, warehouse: Warehouse, release_plan: ReleasePlanResource
    ) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [CANDIDATE_KEY, AGGREGATES_KEY])
        verdicts = latest_check_evaluations(context.instance, gates)
        release = publish_release(settings, warehouse, release_plan.plan, verdicts)
        if not release.new:
            context.log.info(f"Same content as release {release.release_id}: nothing published")
        return dg.MaterializeResult(
            metadata={
                "status": dg.MetadataValue.text(
                    f"published release {release.release_id}"
                    if release.new
                    else f"unchanged: same content as the current release {release.release_id}, "
                    "no new release"
                ),
                "path": dg.MetadataValue.path(str(release.path)),
                "current_release": dg.MetadataValue.text(release.release_id),
                "release_id": dg.MetadataValue.text(release.release_id),
                "records_published": dg.MetadataValue.int(release.records),
                "files": dg.MetadataValue.md(
                    markdown_table(sorted(release.files.items()), ["file", "sha256"])
                ),
            }
        )

    return [candidate, published]


def build_release_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    """The release gate: the candidate audited from its table alone, and against the last
    release's files."""

    @dg.asset_check(
        asset=CANDIDATE_KEY,
        name=GATE_NAMES["release/candidate"],
        blocking=True,
        pool=POOL,
        description=(
            "Recomputed from the candidate table alone: k-anonymity (and l-diversity) on the "
            "quasi-identifiers, no identifier or internal column, every value in the "
            "codebook, suppression within the policy's limit; and, against the last "
            "release's files, no class changed by 1..k-1 records."
        ),
    )
    def release_gate(
        warehouse: Warehouse, release_plan: ReleasePlanResource
    ) -> dg.AssetCheckResult:
        plan = release_plan.plan
        policy = plan.policy
        with warehouse.connection(read_only=True) as con:
            total = con.execute(f"SELECT count(*) FROM {MERGED}").fetchone()[0]
            published = con.execute(f"SELECT count(*) FROM {CANDIDATE}").fetchone()[0]
            candidate, rows = numbered_table(con, str(CANDIDATE))
            findings = audit_release(
                candidate,
                policy,
                total_records=total,
                row_column=rows,
                standard=plan.standard,
                hierarchies=plan.hierarchies,
            )
            findings.append(_release_diff(con, settings, plan))
        rows = [(f.check, "passed" if f.passed else "FAILED", f.summary) for f in findings]
        failed = failures(findings)
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                "release/candidate gate passed: " + "; ".join(f.summary for f in findings)
                if not failed
                else "release/candidate gate failed: " + "; ".join(f.summary for f in failed)
            ),
            metadata={
                "gates": dg.MetadataValue.md(markdown_table(rows, ["gate", "result", "detail"])),
                "k": dg.MetadataValue.int(policy.k),
                "records_before_anonymization": dg.MetadataValue.int(total),
                "records_in_candidate": dg.MetadataValue.int(published),
            },
        )

    return [release_gate]


def _release_diff(
    con: duckdb.DuckDBPyConnection, settings: Settings, plan: ReleasePlan
) -> AuditFinding:
    """The candidate against the last published release's own files."""
    previous = latest_release(settings.releases_dir)
    (composition,) = con.execute(f"SELECT composition FROM {CANDIDATE_FIGURES}").fetchone()
    removed = (json.loads(composition) or {}).get("records_removed_at_once", 0)
    return release_diff(
        previous_records(con, previous) if previous else None,
        con.table(str(CANDIDATE)),
        plan.policy,
        removed=removed,
    )


def report_current_release(instance: dg.DagsterInstance, settings: Settings, run_id: str) -> None:
    """After a failed run: an observation on release/published naming the current release,
    still the last good one (the asset's page would otherwise show only the failure)."""
    current = latest_release(settings.releases_dir)
    instance.report_runless_asset_event(
        dg.AssetObservation(
            PUBLISHED_KEY,
            metadata={
                "current_release": dg.MetadataValue.text(current.name if current else "none yet"),
                "status": dg.MetadataValue.text(
                    f"run {run_id} failed before publishing: "
                    + (
                        f"the current release {current.name} is still the last good one"
                        if current
                        else "no release has been published yet"
                    )
                ),
            },
        )
    )

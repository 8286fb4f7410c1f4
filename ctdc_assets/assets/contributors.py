"""Asset factory: `raw/<contributor>` and `harmonized/<contributor>` for each crosswalk.

A contributor is a crosswalk file plus a landing folder: adding both makes these
assets appear, with no Python change.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from ctdc_assets.assets.acceptance import accepted, delivery_change
from ctdc_assets.assets.gating import GATE_NAMES, require_passed_gates
from ctdc_assets.assets.keys import harmonized_key, raw_key
from ctdc_assets.assets.metadata import changes_by_key, markdown_table, table_metadata
from ctdc_assets.assets.resources import POOL, GreatExpectations, Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.crosswalk.readers import DELIVERY_COLUMNS, iter_delivery
from ctdc_assets.findings import gate_findings, harmonize_findings, record_findings
from ctdc_assets.landing import current_delivery, delivery_label, scan
from ctdc_assets.quality.derive import source_columns
from ctdc_assets.quality.gates import run_harmonized_gate, run_raw_gate
from ctdc_assets.quality.results import GateResult
from ctdc_assets.quality.suite_model import Suite, load_suite
from ctdc_assets.redaction import count_of
from ctdc_assets.standard import load_standard
from ctdc_assets.volume import volume_problem
from ctdc_assets.warehouse import tables
from ctdc_assets.warehouse.audit import read_unmapped, record_harmonize_audit
from ctdc_assets.warehouse.bounded import duckdb_settings
from ctdc_assets.warehouse.harmonize import harmonize_table
from ctdc_assets.warehouse.io import load_batches, read_frame, read_with_typed_nulls, swap_in


def build_contributor_assets(
    contributor: str, crosswalk: Crosswalk, settings: Settings
) -> list[dg.AssetsDefinition]:
    """The two per-contributor assets; their gates are `build_contributor_checks`."""
    folder = settings.landing_dir / contributor
    identifiers = set(crosswalk.identifiers)

    @dg.asset(
        key=raw_key(contributor),
        group_name="raw",
        pool=POOL,
        kinds={"duckdb"},
        description=(
            f"Newest delivery of {contributor} from {folder}, loaded as delivered (all text), "
            "with file name, date, sha256 and row number. Holds personal data: raw layer only."
        ),
        metadata={"landing_folder": dg.MetadataValue.path(str(folder))},
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        delivery = current_delivery(folder, contributor, crosswalk.read.format)
        for stray in scan(folder, contributor, crosswalk.read.format)[1]:
            # Never the file name in the instance (it may name a person); the reason says
            # what to do, as the landing sensor's log does.
            context.log.warning(
                f"{contributor}: a file in the landing folder passed over: {stray.reason}"
            )
        sha256 = delivery.sha256()
        provenance = (
            pl.lit(delivery.name).alias("delivery_file"),  # raw layer only
            pl.lit(delivery.date.isoformat()).alias("delivery_date"),
            pl.lit(sha256).alias("delivery_sha256"),
            pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("loaded_at"),
        )
        batches = (
            batch.with_columns(provenance) for batch in iter_delivery(crosswalk, delivery.path)
        )
        table = tables.raw(contributor)
        with warehouse.connection() as con:
            rows = load_batches(con, table, batches)
            metadata = table_metadata(
                con,
                table,
                personal_columns=identifiers,
                known_columns=crosswalk.known_columns() | set(DELIVERY_COLUMNS),
            )
        previous = _previous_metadata(context)
        before = previous.get("delivery_sha256")
        label = delivery_label(delivery.date, sha256)
        metadata |= {  # never the file name: a contributor may put a person's name in it
            "delivery_date": dg.MetadataValue.text(delivery.date.isoformat()),
            "delivery_sha256": dg.MetadataValue.text(sha256),
            "changes": dg.MetadataValue.md(
                "First delivery loaded."
                if before is None
                else f"{label.capitalize()} replaces sha256 {str(before.value)[:12]}: "
                f"{rows} rows (previously {previous['dagster/row_count'].value})."
            ),
        }
        return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(sha256))

    @dg.asset(
        key=harmonized_key(contributor),
        deps=[raw_key(contributor)],
        group_name="harmonized",
        pool=POOL,
        kinds={"duckdb", "polars"},
        description=(
            f"{contributor} mapped to the CTDC standard through crosswalks/{contributor}.yaml: "
            "consent and scope filters applied, re-sent cases de-duplicated, direct "
            "identifiers dropped, pseudonymous record key added."
        ),
    )
    def harmonized(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [raw_key(contributor)])
        table = tables.harmonized(contributor)
        with warehouse.connection() as con, duckdb_settings(con, threads=1):
            # One transaction: a failure leaves the previous table, audit and no staging.
            con.execute("BEGIN TRANSACTION")
            try:
                result = harmonize_table(
                    con, crosswalk, tables.raw(contributor), table, settings.pseudonym_key()
                )
                changes = changes_by_key(
                    con, table, table.staging, key="record_key", compared=load_standard().columns
                )
                swap_in(con, table)
                unmapped = record_harmonize_audit(con, contributor, result, tables.raw(contributor))
                found = harmonize_findings(unmapped, result.extra_columns)
                record_findings(con, contributor, "harmonize", found)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            metadata = table_metadata(con, table)
        counts = result.counts
        # Counts per variable only: the values themselves are in audit.findings.
        unmapped = (
            unmapped.group_by("variable", "source_column")
            .agg(
                pl.len().alias("distinct_values"),
                pl.col("new").sum().alias("new_values"),
                pl.col("rows").sum(),
            )
            .sort("rows", "variable", descending=[True, False])
        )
        return dg.MaterializeResult(
            metadata=metadata
            | changes
            | {f"count_{name}": dg.MetadataValue.int(value) for name, value in counts.items()}
            | {
                "reconciliation": dg.MetadataValue.md(_reconciliation(counts)),
                "unmapped_values": dg.MetadataValue.int(int(unmapped["rows"].sum() or 0)),
                "columns_not_harmonized": dg.MetadataValue.text(
                    count_of(result.extra_columns) + " (names: ctdc findings)"
                    if result.extra_columns
                    else "none: every delivered column is known"
                ),
                "unmapped": dg.MetadataValue.md(
                    markdown_table(unmapped.head(50).rows(), unmapped.columns)
                    + f"\n\nThe values: `ctdc findings {contributor}`."
                    if unmapped.height
                    else "Every source value was mapped."
                ),
            }
        )

    return [raw, harmonized]


def _previous_metadata(context: dg.AssetExecutionContext) -> dict[str, dg.MetadataValue]:
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event else None
    return dict(materialization.metadata) if materialization else {}


def _reconciliation(counts: dict[str, int]) -> str:
    return (
        f"{counts['delivered']} delivered − {counts['no_consent']} without consent − "
        f"{counts['out_of_scope']} out of scope − {counts['duplicates']} re-sent duplicates "
        f"= {counts['harmonized']} harmonized"
    )


def build_contributor_checks(
    contributor: str, crosswalk: Crosswalk, settings: Settings
) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=raw_key(contributor),
        name=GATE_NAMES["raw"],
        blocking=True,
        pool=POOL,
        description=f"expectations/raw/{contributor}.json on the delivery as loaded.",
    )
    def raw_gate(
        context: dg.AssetCheckExecutionContext,
        warehouse: Warehouse,
        great_expectations: GreatExpectations,
    ) -> dg.AssetCheckResult:
        table = tables.raw(contributor)
        suite = load_suite(
            settings.expectations_dir / "raw" / f"{contributor}.json",
            gx=great_expectations.executor,
        )
        with warehouse.connection(read_only=True) as con:
            frame = read_with_typed_nulls(con, table, suite_columns(suite))
            deliveries = con.execute(
                f"SELECT DISTINCT delivery_date, delivery_sha256 FROM {table} LIMIT 2"
            ).fetchall()
        gate = run_raw_gate(
            frame,
            contributor=contributor,
            personal_columns=crosswalk.identifiers,
            previous_row_count=_previous_row_count(context.instance, raw_key(contributor)),
            source_file=delivery_label(*deliveries[0]) if len(deliveries) == 1 else None,
            expectations_dir=settings.expectations_dir,
            gx=great_expectations.executor,
        )
        with warehouse.connection() as con:
            record_findings(con, contributor, "raw gate", gate_findings(gate))
        return _guard_volume(context.instance, contributor, crosswalk, gate)

    @dg.asset_check(
        asset=harmonized_key(contributor),
        name=GATE_NAMES["harmonized"],
        blocking=True,
        pool=POOL,
        description=(
            "The harmonized suite generated from the standard, the crosswalk's coverage "
            "threshold, and no identifier column or value."
        ),
    )
    def harmonized_gate(
        warehouse: Warehouse, great_expectations: GreatExpectations
    ) -> dg.AssetCheckResult:
        with warehouse.connection(read_only=True) as con:
            frame = read_frame(con, f"SELECT * FROM {tables.harmonized(contributor)}")
            unmapped = read_unmapped(con, contributor)
        result = run_harmonized_gate(
            frame,
            contributor=contributor,
            unmapped=unmapped,
            crosswalk=crosswalk,
            gx=great_expectations.executor,
        )
        with warehouse.connection() as con:
            record_findings(con, contributor, "harmonized gate", gate_findings(result))
        return result.to_check_result()

    return [raw_gate, harmonized_gate]


def suite_columns(suite: Suite) -> set[str]:
    """The columns a suite reads: raw tables are wide (dozens of text columns, millions
    of rows) and a raw suite checks a handful of them."""
    needed = {"source_row"}
    for spec in suite.expectations:
        needed.update(spec.columns)
    for derived in suite.derived_columns:
        needed.update(source_columns(derived))
    return needed


def _previous_row_count(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    """Rows of the delivery before the current one (for the 'wildly off' warning)."""
    records = instance.fetch_materializations(key, limit=2).records
    if len(records) < 2:
        return None
    previous = records[1].asset_materialization
    value = previous.metadata.get("dagster/row_count") if previous else None
    return int(value.value) if value is not None else None


def _guard_volume(
    instance: dg.DagsterInstance, contributor: str, crosswalk: Crosswalk, gate: GateResult
) -> dg.AssetCheckResult:
    """The raw gate's verdict, failed when the record count jumped and nobody accepted it."""
    change, sha256 = delivery_change(instance, raw_key(contributor))
    limits = crosswalk.quality
    problem = change and volume_problem(
        change, max_drop=limits.max_record_drop, max_growth=limits.max_record_growth
    )
    if not problem or change is None:
        return gate.to_check_result()
    if acceptance := accepted(instance, raw_key(contributor), sha256):
        gate.notes.append(f"Record count: {problem}; accepted with `ctdc accept` {acceptance}.")
        return gate.to_check_result()
    result = gate.to_check_result()
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"raw/{contributor}: {problem} (limits in crosswalks/{contributor}.yaml, quality). "
            "If the delivery is right: `ctdc accept FILE` with its file, then run again. "
            + (result.description or "")
        ),
        metadata=dict(result.metadata or {})
        | {
            "records": dg.MetadataValue.int(change.records),
            "previous_records": dg.MetadataValue.int(change.previous_records),
        },
    )

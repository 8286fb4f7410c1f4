"""The gates: one blocking asset check per layer.

Each check reads what its asset wrote (from the warehouse, read-only) and judges it
with code that does not share the asset's logic: GX suites for raw, harmonized and
merged; independent recomputations for the statistics and the release candidate.
A failed gate stops everything downstream of its asset.
"""

from collections.abc import Mapping, Sequence

import dagster as dg
import duckdb
import polars as pl

from ctdc_assets.assets.acceptance import accepted, delivery_change
from ctdc_assets.assets.gating import GATE_NAMES
from ctdc_assets.assets.keys import (
    MERGED_KEY,
    harmonized_key,
    raw_key,
)
from ctdc_assets.assets.resources import POOL, Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.findings import gate_findings, record_findings
from ctdc_assets.landing import delivery_label
from ctdc_assets.quality import gx_executor
from ctdc_assets.quality.derive import source_columns
from ctdc_assets.quality.gates import run_harmonized_gate, run_merged_gate, run_raw_gate
from ctdc_assets.quality.results import GateResult
from ctdc_assets.quality.suite_model import Suite, load_suite
from ctdc_assets.volume import volume_problem
from ctdc_assets.warehouse import tables
from ctdc_assets.warehouse.audit import harmonized_rows, read_unmapped
from ctdc_assets.warehouse.bounded import read_columns
from ctdc_assets.warehouse.io import read_frame
from ctdc_assets.warehouse.tables import MERGED


class GreatExpectations(dg.ConfigurableResource):
    """What the GX gates judge with: Great Expectations in a worker process of its own
    (`quality.gx_executor`), the process's one. Dagster sets resources up when a run
    starts, so a run with a GX gate starts the worker before its first step, and GX's
    ~4 s import overlaps the steps before the gate (`ctdc run` starts it earlier still)."""

    @property
    def executor(self) -> gx_executor.GXExecutor:
        return gx_executor.shared()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.executor.start()


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
            frame = _suite_columns(con, table, suite)
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


def _suite_columns(
    con: duckdb.DuckDBPyConnection, table: tables.Table, suite: Suite
) -> pl.LazyFrame:
    """`table` as the suite sees it, reading only the columns it checks.

    Raw tables are wide (dozens of text columns, millions of rows) and a raw suite
    checks a handful of them; the others are there by name and type only (typed nulls,
    never computed: the gate selects the columns it checks before reading a row).
    """
    schema = con.execute(f"SELECT * FROM {table} LIMIT 0").pl().schema
    needed = {"source_row"}
    for spec in suite.expectations:
        needed.update(spec.columns)
    for derived in suite.derived_columns:
        needed.update(source_columns(derived))
    read = [c for c in schema if c in needed]
    columns = ", ".join('"' + c.replace('"', '""') + '"' for c in read)
    frame = read_frame(con, f"SELECT {columns} FROM {table}")
    others = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in read]
    return frame.lazy().with_columns(others).select(list(schema))


def build_checks(
    settings: Settings, contributors: Mapping[str, Crosswalk], kept: Sequence[str] = ()
) -> list[dg.AssetChecksDefinition]:
    """The gates; `kept`: contributors with a broken crosswalk whose last harmonized table
    merged keeps (reconciled like the others)."""
    checks = [
        check
        for name, crosswalk in contributors.items()
        for check in build_contributor_checks(name, crosswalk, settings)
    ]

    @dg.asset_check(
        asset=MERGED_KEY,
        name=GATE_NAMES["merged/victims"],
        blocking=True,
        pool=POOL,
        description=(
            "Record key unique, every contributor's rows reconcile with its harmonized "
            "table, no column or value that looks like an identifier."
        ),
    )
    def merged_gate(
        warehouse: Warehouse, great_expectations: GreatExpectations
    ) -> dg.AssetCheckResult:
        with warehouse.connection(read_only=True) as con:
            # The suite checks these only by name: as Enums they take a byte a cell.
            frame = read_columns(con, MERGED, enums=("delivery_date", "delivery_sha256"))
            counts = harmonized_rows(con, [*contributors, *kept])
        gate = run_merged_gate(frame, harmonized_counts=counts, gx=great_expectations.executor)
        return gate.to_check_result()

    return [*checks, merged_gate]

"""The gates: one blocking asset check per layer.

Each check reads what its asset wrote (from the warehouse, read-only) and judges it
with code that does not share the asset's logic: GX suites for raw, harmonized and
merged; independent recomputations for the statistics and the release candidate.
A failed gate stops everything downstream of its asset.
"""

import json
from collections.abc import Mapping, Sequence

import dagster as dg
import duckdb
import polars as pl

from ctdc_assets.anonymize import audit_release, failures, load_policy
from ctdc_assets.anonymize.audit import AuditFinding, numbered_table
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.anonymize.release_diff import previous_records, release_diff
from ctdc_assets.assets.acceptance import accepted, delivery_change
from ctdc_assets.assets.contributors import harmonized_key, raw_key
from ctdc_assets.assets.gating import GATE_NAMES
from ctdc_assets.assets.merged import MERGED_KEY, MERGED_TABLE
from ctdc_assets.assets.metadata import exists, markdown_table
from ctdc_assets.assets.release import CANDIDATE_KEY, CANDIDATE_TABLE, FIGURES_TABLE
from ctdc_assets.assets.statistics import AGGREGATES_KEY, read_aggregates, read_victims
from ctdc_assets.bounded import read_columns
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.findings import gate_findings, record_findings
from ctdc_assets.landing import delivery_label
from ctdc_assets.quality import gx_executor
from ctdc_assets.quality.derive import source_columns
from ctdc_assets.quality.gates import run_harmonized_gate, run_merged_gate, run_raw_gate
from ctdc_assets.quality.results import GateResult
from ctdc_assets.quality.suite_model import Suite, load_suite
from ctdc_assets.release.bundle import latest_release
from ctdc_assets.statistics.audit import Finding, audit_tables
from ctdc_assets.statistics.audit_recount import audit_recount
from ctdc_assets.volume import volume_problem
from ctdc_assets.warehouse import POOL, Warehouse

#: Rows fetched from DuckDB at a time when a gate reads a table.
FETCH_ROWS = 200_000


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
        table = f"raw.{contributor}"
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
            frame = read_frame(con, f"SELECT * FROM harmonized.{contributor}")
            unmapped = con.execute(
                "SELECT variable, source_column, source_value, rows FROM audit.unmapped "
                "WHERE contributor = ?",
                [contributor],
            ).pl()
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


def read_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """The result of `sql` as one frame, converted batch by batch as DuckDB streams it
    (a whole-result fetch holds DuckDB's, Arrow's and Polars' copies at once)."""
    reader = con.execute(sql).fetch_record_batch(FETCH_ROWS)
    parts = [pl.from_arrow(batch) for batch in reader]
    if not parts:
        return pl.from_arrow(reader.schema.empty_table())  # type: ignore[return-value]
    return pl.concat(parts, rechunk=False)  # type: ignore[arg-type]


def _suite_columns(con: duckdb.DuckDBPyConnection, table: str, suite: Suite) -> pl.LazyFrame:
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
            frame = read_columns(con, MERGED_TABLE, enums=("delivery_date", "delivery_sha256"))
            counts = {
                name: con.execute(f"SELECT count(*) FROM harmonized.{name}").fetchone()[0]
                for name in [*contributors, *kept]
                if name in contributors or exists(con, f"harmonized.{name}")
            }
        gate = run_merged_gate(frame, harmonized_counts=counts, gx=great_expectations.executor)
        return gate.to_check_result()

    @dg.asset_check(
        asset=AGGREGATES_KEY,
        name=GATE_NAMES["statistics/aggregates"],
        blocking=True,
        pool=POOL,
        description=(
            "Recomputed from the stored tables: no count below the threshold; with the "
            "cell-key method, every count recounted from merged and the records' cell keys "
            "as true count + ptable perturbation; with suppression, no suppressed count "
            "recoverable from totals and other cells."
        ),
    )
    def small_cells_gate(warehouse: Warehouse) -> dg.AssetCheckResult:
        policy = load_policy(settings.policy_file)
        threshold = policy.k
        tables = read_aggregates(warehouse)
        findings = audit_tables(tables, threshold)
        guide = tables.get("about_tables")
        stored = set(guide["protection"]) if guide is not None and "protection" in guide else set()
        if stored and stored != {policy.statistics.method}:
            findings.append(
                Finding(
                    "about_tables", "protection", f"not the policy's {policy.statistics.method}"
                )
            )
        if policy.statistics.method == "cell_key":
            findings += audit_recount(read_victims(warehouse), tables)
        return _findings_result("statistics/aggregates", findings, threshold=threshold)

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
    def release_gate(warehouse: Warehouse) -> dg.AssetCheckResult:
        policy = load_policy(settings.policy_file)
        with warehouse.connection(read_only=True) as con:
            total = con.execute(f"SELECT count(*) FROM {MERGED_TABLE}").fetchone()[0]
            published = con.execute(f"SELECT count(*) FROM {CANDIDATE_TABLE}").fetchone()[0]
            candidate, rows = numbered_table(con, CANDIDATE_TABLE)
            findings = audit_release(candidate, policy, total_records=total, row_column=rows)
            findings.append(_release_diff(con, settings, policy))
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

    return [*checks, merged_gate, small_cells_gate, release_gate]


def _release_diff(
    con: duckdb.DuckDBPyConnection, settings: Settings, policy: ReleasePolicy
) -> AuditFinding:
    """The candidate against the last published release's own files."""
    previous = latest_release(settings.releases_dir)
    (composition,) = con.execute(f"SELECT composition FROM {FIGURES_TABLE}").fetchone()
    removed = (json.loads(composition) or {}).get("records_removed_at_once", 0)
    return release_diff(
        previous_records(con, previous) if previous else None,
        con.table(CANDIDATE_TABLE),
        policy,
        removed=removed,
    )


def _findings_result(gate: str, findings: list, **figures: int) -> dg.AssetCheckResult:
    """A blocking result from a list of findings (each with a readable `str()`)."""
    rows = [(i + 1, str(f)) for i, f in enumerate(findings[:50])]
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{gate} gate passed"
            if not findings
            else f"{gate} gate failed: {len(findings)} problems, first: {findings[0]}"
        ),
        metadata={
            "problems": dg.MetadataValue.int(len(findings)),
            "findings": dg.MetadataValue.md(
                markdown_table(rows, ["#", "problem"]) if rows else "None."
            ),
            **{name: dg.MetadataValue.int(value) for name, value in figures.items()},
        },
    )

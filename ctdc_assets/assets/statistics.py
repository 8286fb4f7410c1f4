"""`statistics/aggregates` and `statistics/dashboard`: figures on the full data.

Computed before anonymization so the figures are complete; every count is
small-cell protected before it is stored, and the dashboard reads only those
protected tables, never records.
"""

import dagster as dg

from ctdc_assets.assets.gating import GATE_NAMES, require_passed_gates
from ctdc_assets.assets.keys import AGGREGATES_KEY, DASHBOARD_KEY, MERGED_KEY
from ctdc_assets.assets.metadata import markdown_table
from ctdc_assets.assets.resources import POOL, ReleasePlanResource, Warehouse
from ctdc_assets.config import Settings, owner_only
from ctdc_assets.statistics.aggregates import PTABLE, compute_with_figures
from ctdc_assets.statistics.audit import Finding, audit_tables
from ctdc_assets.statistics.audit_recount import audit_recount
from ctdc_assets.statistics.cellkey import properties
from ctdc_assets.statistics.dashboard import render_dashboard
from ctdc_assets.warehouse.statistics import (
    read_counted_victims,
    read_statistics,
    write_statistics,
)


def build_statistics_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=AGGREGATES_KEY,
        deps=[MERGED_KEY],
        group_name="statistics",
        pool=POOL,
        kinds={"duckdb", "polars"},
        description=(
            "Aggregate tables on the full merged data (before anonymization), each with its "
            "total and share of unknowns; every count perturbed by the cell-key method (the "
            "ptable published with them, no count 1..k-1), or, by the policy, counts below "
            "k suppressed with secondary suppression."
        ),
    )
    def aggregates(
        context: dg.AssetExecutionContext, warehouse: Warehouse, release_plan: ReleasePlanResource
    ) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [MERGED_KEY])
        plan = release_plan.plan
        policy, threshold, params = plan.policy, plan.k, plan.cell_key
        with warehouse.connection(read_only=True) as con:
            victims = read_counted_victims(con)
        tables, figures = compute_with_figures(victims, threshold=threshold, cell_key=params)
        with warehouse.connection() as con:
            write_statistics(con, tables, figures)
        summary = [(name, t.height) for name, t in tables.items()]
        method = {
            "method": dg.MetadataValue.text(policy.statistics.method),
            "protection_figures": dg.MetadataValue.json(figures),
        }
        if params is not None:
            figures = properties(tables[PTABLE], params)
            method |= {
                "ptable": dg.MetadataValue.json(
                    {"D": params.max_deviation, "V": params.variance, "js": params.threshold}
                    | figures
                )
            }
        return dg.MaterializeResult(
            metadata=method
            | {
                "threshold": dg.MetadataValue.int(threshold),
                "tables": dg.MetadataValue.md(markdown_table(summary, ["table", "rows"])),
                "records": dg.MetadataValue.int(victims.height),
            }
        )

    @dg.asset(
        key=DASHBOARD_KEY,
        deps=[AGGREGATES_KEY],
        group_name="statistics",
        pool=POOL,
        kinds={"html"},
        description=(
            "Self-contained interactive HTML dashboard (works offline, no network request), "
            "built only from the protected aggregate tables."
        ),
    )
    def dashboard(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [AGGREGATES_KEY])
        out = owner_only(settings.data_dir / "staging") / "dashboard.html"
        with warehouse.connection(read_only=True) as con:
            tables = read_statistics(con)
        path = render_dashboard(tables, out)
        owner_only(out.parent)  # unpublished until a release copies it
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "size_bytes": dg.MetadataValue.int(path.stat().st_size),
            }
        )

    return [aggregates, dashboard]


def build_statistics_checks() -> list[dg.AssetChecksDefinition]:
    """The statistics gate: recounted from merged, without the code that computed them."""

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
    def small_cells_gate(
        warehouse: Warehouse, release_plan: ReleasePlanResource
    ) -> dg.AssetCheckResult:
        policy = release_plan.plan.policy
        threshold = policy.k
        with warehouse.connection(read_only=True) as con:
            statistics = read_statistics(con)
            victims = read_counted_victims(con) if policy.statistics.method == "cell_key" else None
        findings = audit_tables(statistics, threshold)
        guide = statistics.get("about_tables")
        stored = set(guide["protection"]) if guide is not None and "protection" in guide else set()
        if stored and stored != {policy.statistics.method}:
            findings.append(
                Finding(
                    "about_tables", "protection", f"not the policy's {policy.statistics.method}"
                )
            )
        if victims is not None:
            findings += audit_recount(victims, statistics)
        return _findings_result("statistics/aggregates", findings, threshold=threshold)

    return [small_cells_gate]


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

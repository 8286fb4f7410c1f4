"""`statistics/aggregates` and `statistics/dashboard`: figures on the full data.

Computed before anonymization so the figures are complete; every count is
small-cell protected before it is stored, and the dashboard reads only those
protected tables, never records.
"""

import dagster as dg

from ctdc_assets.anonymize import load_policy
from ctdc_assets.assets.contributors import REFRESH_WHEN_GATES_PASS
from ctdc_assets.assets.gating import require_passed_gates
from ctdc_assets.assets.merged import MERGED_KEY, MERGED_TABLE
from ctdc_assets.assets.metadata import markdown_table
from ctdc_assets.config import Settings, owner_only
from ctdc_assets.statistics import compute_aggregates
from ctdc_assets.statistics.aggregates import input_columns
from ctdc_assets.statistics.dashboard import render_dashboard
from ctdc_assets.warehouse import POOL, Warehouse, replace_table

AGGREGATES_KEY = dg.AssetKey(["statistics", "aggregates"])
DASHBOARD_KEY = dg.AssetKey(["statistics", "dashboard"])
SCHEMA = "statistics"


def read_aggregates(warehouse: Warehouse) -> dict[str, object]:
    """Every protected table in the statistics schema, by name."""
    with warehouse.connection(read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "ORDER BY 1",
                [SCHEMA],
            ).fetchall()
        ]
        return {name: con.execute(f'SELECT * FROM {SCHEMA}."{name}"').pl() for name in names}


def build_statistics_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=AGGREGATES_KEY,
        deps=[MERGED_KEY],
        group_name="statistics",
        pool=POOL,
        kinds={"duckdb", "polars"},
        automation_condition=REFRESH_WHEN_GATES_PASS,
        description=(
            "Aggregate tables on the full merged data (before anonymization), each with its "
            "total and share of unknowns; counts below the release's k are suppressed, with "
            "secondary suppression so no suppressed cell can be recovered."
        ),
    )
    def aggregates(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [MERGED_KEY])
        threshold = load_policy(settings.policy_file).k
        with warehouse.connection(read_only=True) as con:
            present = set(con.table(MERGED_TABLE).columns)
            columns = [f'"{c}"' for c in input_columns() if c in present]
            victims = con.execute(f"SELECT {', '.join(columns)} FROM {MERGED_TABLE}").pl()
        tables = compute_aggregates(victims, threshold=threshold)
        with warehouse.connection() as con:
            con.execute("BEGIN TRANSACTION")  # readers see the old set or the new, never a mix
            con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            for name, table in tables.items():
                replace_table(con, f'{SCHEMA}."{name}"', table)
            con.execute("COMMIT")
        summary = [(name, t.height) for name, t in tables.items()]
        return dg.MaterializeResult(
            metadata={
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
        automation_condition=REFRESH_WHEN_GATES_PASS,
        description=(
            "Self-contained interactive HTML dashboard (works offline, no network request), "
            "built only from the protected aggregate tables."
        ),
    )
    def dashboard(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [AGGREGATES_KEY])
        out = owner_only(settings.data_dir / "staging") / "dashboard.html"
        path = render_dashboard(read_aggregates(warehouse), out)
        owner_only(out.parent)  # unpublished until a release copies it
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "size_bytes": dg.MetadataValue.int(path.stat().st_size),
            }
        )

    return [aggregates, dashboard]

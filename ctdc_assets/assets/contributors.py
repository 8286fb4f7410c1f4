"""Asset factory: `raw/<contributor>` and `harmonized/<contributor>` for each crosswalk.

A contributor is a crosswalk file plus a landing folder: adding both makes these
assets appear, with no Python change.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from ctdc_assets.assets.gating import require_passed_gates
from ctdc_assets.assets.metadata import changes_by_key, markdown_table, table_metadata
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk, harmonize, read_delivery
from ctdc_assets.landing import current_delivery
from ctdc_assets.standard import load_standard
from ctdc_assets.warehouse import POOL, Warehouse, replace_table

#: Downstream layers refresh when an input changes, but only after its gates passed.
REFRESH_WHEN_GATES_PASS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
DELIVERY_COLUMNS = ("source_row", "delivery_file", "delivery_sha256", "loaded_at")


def raw_key(contributor: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", contributor])


def harmonized_key(contributor: str) -> dg.AssetKey:
    return dg.AssetKey(["harmonized", contributor])


def build_contributor_assets(
    contributor: str, crosswalk: Crosswalk, settings: Settings
) -> list[dg.AssetsDefinition]:
    """The two per-contributor assets; their gates are built in `checks.py`."""
    folder = settings.landing_dir / contributor
    identifiers = set(crosswalk.identifiers)

    @dg.asset(
        key=raw_key(contributor),
        group_name="raw",
        pool=POOL,
        kinds={"duckdb"},
        description=(
            f"Newest delivery of {contributor} from {folder}, loaded as delivered (all text), "
            "with file name, sha256 and row number. Holds personal data: raw layer only."
        ),
        metadata={"landing_folder": dg.MetadataValue.path(str(folder))},
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        delivery = current_delivery(folder, contributor, crosswalk.read.format)
        sha256 = delivery.sha256()
        frame = read_delivery(crosswalk, delivery.path).with_columns(
            pl.lit(delivery.name).alias("delivery_file"),
            pl.lit(sha256).alias("delivery_sha256"),
            pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("loaded_at"),
        )
        table = f"raw.{contributor}"
        with warehouse.connection() as con:
            replace_table(con, table, frame)
            metadata = table_metadata(con, table, personal_columns=identifiers)
        previous = _previous_metadata(context)
        before = previous.get("delivery_file")
        metadata |= {
            "delivery_file": dg.MetadataValue.path(str(delivery.path)),
            "delivery_sha256": dg.MetadataValue.text(sha256),
            "changes": dg.MetadataValue.md(
                "First delivery loaded."
                if before is None
                else f"Delivery {delivery.name} replaces {before.value}: "
                f"{frame.height} rows (previously {previous['dagster/row_count'].value})."
            ),
        }
        return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(sha256))

    @dg.asset(
        key=harmonized_key(contributor),
        deps=[raw_key(contributor)],
        group_name="harmonized",
        pool=POOL,
        kinds={"duckdb", "polars"},
        automation_condition=REFRESH_WHEN_GATES_PASS,
        description=(
            f"{contributor} mapped to the CTDC standard through crosswalks/{contributor}.yaml: "
            "consent and scope filters applied, re-sent cases de-duplicated, direct "
            "identifiers dropped, pseudonymous record key added."
        ),
    )
    def harmonized(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [raw_key(contributor)])
        raw_frame = warehouse.read_table(f"raw.{contributor}")
        result = harmonize(crosswalk, raw_frame, settings.pseudonym_key())
        table = f"harmonized.{contributor}"
        counts = result.counts
        with warehouse.connection() as con:
            con.register("_harmonized", result.frame)
            changes = changes_by_key(
                con, table, "_harmonized", key="record_key", compared=load_standard().columns
            )
            replace_table(con, table, "_harmonized")
            _record_audit(con, contributor, counts, result.unmapped)
            metadata = table_metadata(con, table)
        unmapped = result.unmapped.sort("rows", descending=True)
        return dg.MaterializeResult(
            metadata=metadata
            | changes
            | {f"count_{name}": dg.MetadataValue.int(value) for name, value in counts.items()}
            | {
                "reconciliation": dg.MetadataValue.md(_reconciliation(counts)),
                "unmapped_values": dg.MetadataValue.int(int(unmapped["rows"].sum() or 0)),
                "columns_not_harmonized": dg.MetadataValue.text(
                    ", ".join(result.extra_columns) or "none: every delivered column is known"
                ),
                "unmapped": dg.MetadataValue.md(
                    markdown_table(unmapped.head(50).rows(), unmapped.columns)
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


def _record_audit(con, contributor: str, counts: dict[str, int], unmapped: pl.DataFrame) -> None:
    """Keep the reconciliation counts and unmapped values for the gates downstream."""
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        "CREATE TABLE IF NOT EXISTS audit.harmonize_counts (contributor VARCHAR PRIMARY KEY, "
        "delivered BIGINT, no_consent BIGINT, out_of_scope BIGINT, duplicates BIGINT, "
        "harmonized BIGINT)"
    )
    con.execute(
        "INSERT OR REPLACE INTO audit.harmonize_counts VALUES (?, ?, ?, ?, ?, ?)",
        [contributor, *(counts[k] for k in _COUNT_NAMES)],
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS audit.unmapped (contributor VARCHAR, variable VARCHAR, "
        "source_column VARCHAR, source_value VARCHAR, rows BIGINT)"
    )
    con.execute("DELETE FROM audit.unmapped WHERE contributor = ?", [contributor])
    if unmapped.height:
        con.register("_unmapped", unmapped.select(_UNMAPPED_COLUMNS))
        con.execute(f"INSERT INTO audit.unmapped SELECT '{contributor}', * FROM _unmapped")
        con.unregister("_unmapped")


_COUNT_NAMES = ("delivered", "no_consent", "out_of_scope", "duplicates", "harmonized")
_UNMAPPED_COLUMNS = ("variable", "source_column", "source_value", "rows")

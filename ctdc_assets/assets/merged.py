"""`merged/victims`: every contributor's harmonized table in one dataset."""

from collections.abc import Sequence

import dagster as dg

from ctdc_assets.assets.contributors import REFRESH_WHEN_GATES_PASS, harmonized_key
from ctdc_assets.assets.gating import require_passed_gates
from ctdc_assets.assets.metadata import changes_by_key, exists, markdown_table, table_metadata
from ctdc_assets.bounded import BIG_STATEMENT_MEMORY, duckdb_settings
from ctdc_assets.standard import load_standard
from ctdc_assets.warehouse import POOL, Warehouse

MERGED_KEY = dg.AssetKey(["merged", "victims"])
MERGED_TABLE = "merged.victims"
STAGING_TABLE = "merged.victims_next"


def build_merged_asset(
    contributors: Sequence[str], kept: Sequence[str] = ()
) -> dg.AssetsDefinition:
    """`kept`: contributors that cannot run (broken crosswalk, no raw suite); their last
    harmonized table (which passed its gates) is merged as it is, and the metadata says so."""

    @dg.asset(
        key=MERGED_KEY,
        deps=[harmonized_key(c) for c in contributors],
        group_name="merged",
        pool=POOL,
        kinds={"duckdb"},
        automation_condition=REFRESH_WHEN_GATES_PASS,
        description=(
            "All contributors' harmonized records in one table, one row per pseudonymous "
            "record key (the latest load of a re-sent case wins), with provenance."
        ),
    )
    def victims(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [harmonized_key(c) for c in contributors])
        standard = load_standard()
        columns = standard.columns + standard.internal_columns
        selected = ", ".join(f'"{c}"' for c in columns)
        with warehouse.connection() as con:
            missing = [c for c in contributors if not exists(con, f"harmonized.{c}")]
            if missing:
                raise RuntimeError(
                    "merged/victims needs every contributor's harmonized table; not yet "
                    f"materialized: {', '.join(f'harmonized/{c}' for c in missing)}"
                )
            stale = [c for c in kept if exists(con, f"harmonized.{c}")]
            for contributor in kept:
                context.log.warning(
                    f"{contributor}: not ready (see its raw asset); "
                    + (
                        "its last harmonized table is merged as it is"
                        if contributor in stale
                        else "it has no harmonized table yet and is left out"
                    )
                )
            union = " UNION ALL ".join(
                f"SELECT {selected} FROM harmonized.{c}" for c in sorted([*contributors, *stale])
            )
            # Built in the warehouse file (compressed, spilled under memory pressure), not
            # as a TEMP table held in memory: at 10M records that alone took GBs, and the
            # rename below saves copying the table once more.
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {MERGED_TABLE.split('.')[0]}")
            with duckdb_settings(con, memory_limit=BIG_STATEMENT_MEMORY):
                con.execute(
                    f"""
                    CREATE OR REPLACE TABLE {STAGING_TABLE} AS
                    SELECT * FROM ({union})
                    QUALIFY row_number() OVER (
                        PARTITION BY record_key ORDER BY loaded_at DESC, delivery_sha256 DESC) = 1
                    ORDER BY contributor, record_key
                    """
                )
                changes = changes_by_key(
                    con, MERGED_TABLE, STAGING_TABLE, key="record_key", compared=standard.columns
                )
            con.execute("BEGIN TRANSACTION")  # readers see the old table or the new one
            con.execute(f"DROP TABLE IF EXISTS {MERGED_TABLE}")
            con.execute(f"ALTER TABLE {STAGING_TABLE} RENAME TO {MERGED_TABLE.split('.')[1]}")
            con.execute("COMMIT")
            per_contributor = con.execute(
                f"SELECT contributor, count(*) FROM {MERGED_TABLE} GROUP BY ALL ORDER BY 1"
            ).fetchall()
            metadata = table_metadata(con, MERGED_TABLE)
        return dg.MaterializeResult(
            metadata=metadata
            | changes
            | {
                "records_by_contributor": dg.MetadataValue.md(
                    markdown_table(per_contributor, ["contributor", "records"])
                ),
                "not_ready": dg.MetadataValue.text(
                    ", ".join(
                        f"{c} ({'last good table kept' if c in stale else 'left out'})"
                        for c in kept
                    )
                    or "none"
                ),
            }
        )

    return victims

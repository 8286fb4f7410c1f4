"""`merged/victims`: every contributor's harmonized table in one dataset."""

import hashlib
from collections.abc import Callable, Sequence

import dagster as dg

from ctdc_assets.assets.gating import GATE_NAMES, require_passed_gates
from ctdc_assets.assets.keys import MERGED_KEY, harmonized_key
from ctdc_assets.assets.metadata import changes_by_key, markdown_table, table_metadata
from ctdc_assets.assets.resources import POOL, GreatExpectations, Warehouse
from ctdc_assets.quality.gates import run_merged_gate
from ctdc_assets.standard import CELL_RECORD_KEY, load_standard
from ctdc_assets.warehouse.audit import harmonized_rows
from ctdc_assets.warehouse.bounded import BIG_STATEMENT_MEMORY, duckdb_settings, read_columns
from ctdc_assets.warehouse.io import exists, swap_in
from ctdc_assets.warehouse.tables import MERGED, MERGED_NEXT, harmonized


def cell_record_key_sql(secret: bytes) -> tuple[str, list[str]]:
    """SQL (and its parameters: the secret stays out of the text) for each record's
    permanent cell key, the first 32 bits of HMAC-SHA256(secret, record_key), computed
    by DuckDB (no Python loop over 10M keys)."""
    block = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    digest = "sha256(unhex(?) || unhex(sha256(unhex(?) || encode(record_key))))"
    return f"('0x' || left({digest}, 8))::UBIGINT::BIGINT AS {CELL_RECORD_KEY}", [outer, inner]


def build_merged_asset(
    contributors: Sequence[str], cell_key_secret: Callable[[], bytes], kept: Sequence[str] = ()
) -> dg.AssetsDefinition:
    """`kept`: contributors that cannot run (broken crosswalk, no raw suite); their last
    harmonized table (which passed its gates) is merged as it is, and the metadata says so."""

    @dg.asset(
        key=MERGED_KEY,
        deps=[harmonized_key(c) for c in contributors],
        group_name="merged",
        pool=POOL,
        kinds={"duckdb"},
        description=(
            "All contributors' harmonized records in one table, one row per pseudonymous "
            "record key (the latest load of a re-sent case wins), with provenance and the "
            "record's secret cell key for the statistics."
        ),
    )
    def victims(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [harmonized_key(c) for c in contributors])
        standard = load_standard()
        columns = standard.columns + standard.internal_columns
        selected = ", ".join(f'"{c}"' for c in columns)
        with warehouse.connection() as con:
            missing = [c for c in contributors if not exists(con, harmonized(c))]
            if missing:
                raise RuntimeError(
                    "merged/victims needs every contributor's harmonized table; not yet "
                    f"materialized: {', '.join(f'harmonized/{c}' for c in missing)}"
                )
            stale = [c for c in kept if exists(con, harmonized(c))]
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
                f"SELECT {selected} FROM {harmonized(c)}" for c in sorted([*contributors, *stale])
            )
            # Built in the warehouse file (compressed, spilled under memory pressure), not
            # as a TEMP table held in memory: at 10M records that alone took GBs, and the
            # rename below saves copying the table once more.
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {MERGED.schema}")
            key_sql, key_parameters = cell_record_key_sql(cell_key_secret())
            with duckdb_settings(con, memory_limit=BIG_STATEMENT_MEMORY):
                con.execute(
                    f"""
                    CREATE OR REPLACE TABLE {MERGED_NEXT} AS
                    SELECT *, {key_sql} FROM ({union})
                    QUALIFY row_number() OVER (
                        PARTITION BY record_key ORDER BY loaded_at DESC, delivery_sha256 DESC) = 1
                    ORDER BY contributor, record_key
                    """,
                    key_parameters,
                )
                changes = changes_by_key(
                    con, MERGED, MERGED_NEXT, key="record_key", compared=standard.columns
                )
            con.execute("BEGIN TRANSACTION")  # readers see the old table or the new one
            swap_in(con, MERGED, MERGED_NEXT)
            con.execute("COMMIT")
            per_contributor = con.execute(
                f"SELECT contributor, count(*) FROM {MERGED} GROUP BY ALL ORDER BY 1"
            ).fetchall()
            metadata = table_metadata(con, MERGED)
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


def build_merged_checks(
    contributors: Sequence[str], kept: Sequence[str] = ()
) -> list[dg.AssetChecksDefinition]:
    """The merged gate; `kept`: contributors that cannot run, whose last harmonized table
    merged keeps (reconciled like the others)."""

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

    return [merged_gate]

"""Asset factory: `raw/<contributor>` and `harmonized/<contributor>` for each crosswalk.

A contributor is a crosswalk file plus a landing folder: adding both makes these
assets appear, with no Python change.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg
import duckdb
import polars as pl

from ctdc_assets.assets.gating import require_passed_gates
from ctdc_assets.assets.metadata import changes_by_key, markdown_table, table_metadata
from ctdc_assets.bounded import duckdb_settings
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import Crosswalk, Harmonized
from ctdc_assets.crosswalk.engine import PROVENANCE_COLUMNS, Harmonizer, dedup_columns
from ctdc_assets.crosswalk.readers import DELIVERY_COLUMNS, iter_delivery
from ctdc_assets.findings import harmonize_findings, record_findings
from ctdc_assets.landing import current_delivery, delivery_label, scan
from ctdc_assets.redaction import count_of
from ctdc_assets.standard import load_standard
from ctdc_assets.warehouse import POOL, Warehouse

#: Downstream layers refresh when an input changes, but only after its gates passed.
REFRESH_WHEN_GATES_PASS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
#: Raw rows harmonized at a time (memory: a few hundred MB per 100,000 rows of a wide
#: delivery, while mapping).
HARMONIZE_CHUNK_ROWS = 500_000


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
        table = f"raw.{contributor}"
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
        automation_condition=REFRESH_WHEN_GATES_PASS,
        description=(
            f"{contributor} mapped to the CTDC standard through crosswalks/{contributor}.yaml: "
            "consent and scope filters applied, re-sent cases de-duplicated, direct "
            "identifiers dropped, pseudonymous record key added."
        ),
    )
    def harmonized(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        require_passed_gates(context.instance, [raw_key(contributor)])
        table = f"harmonized.{contributor}"
        with warehouse.connection() as con, duckdb_settings(con, threads=1):
            # One transaction: a failure leaves the previous table, audit and no staging.
            con.execute("BEGIN TRANSACTION")
            try:
                result = harmonize_table(
                    con, crosswalk, f"raw.{contributor}", table, settings.pseudonym_key()
                )
                staging = _staging(table)
                changes = changes_by_key(
                    con, table, staging, key="record_key", compared=load_standard().columns
                )
                con.execute(f"DROP TABLE IF EXISTS {table}")
                con.execute(f"ALTER TABLE {staging} RENAME TO {table.split('.')[1]}")
                _record_audit(con, contributor, result)
                record_findings(con, contributor, "harmonize", harmonize_findings(result))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            metadata = table_metadata(con, table)
        counts = result.counts
        # Counts per variable only: the values themselves are in audit.findings.
        unmapped = (
            result.unmapped.group_by("variable", "source_column")
            .agg(pl.len().alias("distinct_values"), pl.col("rows").sum())
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


def load_batches(
    con: duckdb.DuckDBPyConnection, table: str, batches: Iterable[pl.DataFrame]
) -> int:
    """Replace `table` with the batches appended in order, in one transaction; its rows.

    Only one batch is in memory at a time. Nothing changes unless every batch arrived:
    an error (e.g. a `DeliveryError` halfway through the file) rolls back, and the
    previous table stays as it was.
    """
    schema = table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    rows = 0
    # One DuckDB thread: inserting into the encrypted file with one thread takes half
    # the CPU of a parallel insert (measured: 2.6M CSV rows, 45 -> 23 s).
    with duckdb_settings(con, threads=1):
        con.execute("BEGIN TRANSACTION")
        try:
            for batch in batches:
                con.register("_batch", batch)
                if rows == 0:
                    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _batch")
                else:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
                con.unregister("_batch")
                rows += batch.height
                del batch
            if rows == 0:
                raise ValueError(f"{table}: no rows to load")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return rows


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


def harmonize_table(
    con: duckdb.DuckDBPyConnection,
    crosswalk: Crosswalk,
    raw_table: str,
    table: str,
    pseudonym_key: bytes,
    *,
    chunk_rows: int = HARMONIZE_CHUNK_ROWS,
) -> Harmonized:
    """Harmonize `raw_table` a chunk of rows at a time into the staging table of `table`.

    Rows are read in `rowid` order (the delivery's order: raw tables are written once,
    never updated); the caller swaps the staging table in. The returned result
    has counts and unmapped values but an empty frame: the rows are in the warehouse.
    """
    columns = [row[0] for row in con.execute(f"DESCRIBE {raw_table}").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {raw_table}").fetchone()[0]
    keys = dedup_columns(crosswalk)
    key_frame = pl.DataFrame()
    if keys:
        selected = ", ".join(_quote(c) for c in keys)
        key_frame = (
            con.execute(f"SELECT rowid AS _rowid, {selected} FROM {raw_table}")
            .pl()
            .sort("_rowid")
            .drop("_rowid")
        )
    harmonizer = Harmonizer(crosswalk, pseudonym_key, columns, rows, key_frame)
    del key_frame
    staging = _staging(table)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    con.execute(f"DROP TABLE IF EXISTS {staging}")
    # Typed and empty first, so an all-filtered delivery still has the standard's columns.
    con.register("_chunk", harmonizer.empty())
    con.execute(f"CREATE TABLE {staging} AS SELECT * FROM _chunk")
    # Only the columns the crosswalk reads (the widest, free text and identifiers, are
    # not); whole rows are fetched for the few rows without a case id.
    read = [
        c for c in columns if c in {"source_row", *crosswalk.used_columns(), *PROVENANCE_COLUMNS}
    ]
    if not crosswalk.case_id:
        read = columns
    selected = ", ".join(["rowid AS _rowid", *(_quote(c) for c in read)])

    def full_rows(rowids: pl.Series) -> pl.DataFrame:
        if rowids.is_empty():
            return con.execute(f"SELECT rowid AS _rowid, * FROM {raw_table} LIMIT 0").pl()
        con.register("_rowids", rowids.alias("_rowid").to_frame())
        try:
            # The range lets DuckDB skip to the chunk's row groups.
            return con.execute(
                f"SELECT rowid AS _rowid, * FROM {raw_table} WHERE rowid BETWEEN ? AND ? "
                "AND rowid IN (SELECT _rowid FROM _rowids)",
                [rowids.min(), rowids.max()],
            ).pl()
        finally:
            con.unregister("_rowids")

    low, high = con.execute(f"SELECT min(rowid), max(rowid) FROM {raw_table}").fetchone()
    for start in range(low or 0, (high if high is not None else -1) + 1, chunk_rows):
        raw = con.execute(
            f"SELECT {selected} FROM {raw_table} WHERE rowid >= ? AND rowid < ?",
            [start, start + chunk_rows],
        ).pl()
        if not raw.get_column("_rowid").is_sorted():
            raw = raw.sort("_rowid")
        out = harmonizer.map_chunk(raw, full_rows)
        del raw
        con.register("_chunk", out)
        con.execute(f"INSERT INTO {staging} BY NAME SELECT * FROM _chunk")
        del out
    con.unregister("_chunk")
    return harmonizer.result(harmonizer.empty())


def _staging(table: str) -> str:
    schema, name = table.split(".")
    return f"{schema}._staging_{name}"


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _record_audit(con, contributor: str, result: Harmonized) -> None:
    """Keep the reconciliation counts and unmapped values for the gates downstream."""
    counts, unmapped = result.counts, result.unmapped
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

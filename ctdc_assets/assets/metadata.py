"""Metadata every asset shows in the UI: size, schema, what changed.

No preview of rows: the Dagster instance is outside the encrypted warehouse, and a
delivery's values may reach it only as `redaction` allows (counts, the schema).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import dagster as dg
import duckdb
from tabulate import tabulate

from ctdc_assets.redaction import count_of
from ctdc_assets.warehouse.bounded import quote
from ctdc_assets.warehouse.io import exists
from ctdc_assets.warehouse.tables import Table


def table_metadata(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    *,
    personal_columns: Collection[str] = (),
    known_columns: Collection[str] | None = None,
) -> dict[str, dg.MetadataValue]:
    """Row count and column schema; columns not in `known_columns` (headers a delivery
    added, which may be anything) are counted, not named."""
    described = con.execute(f"DESCRIBE {table}").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    if known_columns is not None:
        unknown = [d for d in described if d[0] not in known_columns]
        described = [d for d in described if d[0] in known_columns]
    else:
        unknown = []
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                str(kind),
                description="personal data: raw layer only" if name in personal_columns else None,
            )
            for name, kind, *_ in described
        ]
    )
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(rows[0] if rows else 0),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "table": dg.MetadataValue.text(str(table)),
    }
    if unknown:
        metadata["unknown_columns"] = dg.MetadataValue.text(
            f"{count_of(unknown)} (names: ctdc findings)"
        )
    return metadata


def markdown_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A small Markdown table; cells are escaped so values cannot break the layout."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    return tabulate(
        [[cell(v) for v in row] for row in rows],
        [cell(h) for h in header],
        tablefmt="github",
        disable_numparse=True,
    )


def changes_by_key(
    con: duckdb.DuckDBPyConnection,
    old_table: Table,
    new_relation: Table,
    *,
    key: str,
    compared: Sequence[str],
) -> dict[str, dg.MetadataValue]:
    """Rows added, removed and changed (same key, other values) against the previous table."""
    new_rows = con.execute(f"SELECT count(*) FROM {new_relation}").fetchone()[0]
    if not exists(con, old_table):
        return {
            "changes": dg.MetadataValue.md(f"First materialization: {new_rows} rows added."),
            "rows_added": dg.MetadataValue.int(new_rows),
            "rows_removed": dg.MetadataValue.int(0),
            "rows_changed": dg.MetadataValue.int(0),
        }
    k = quote(key)
    values = ", ".join(quote(c) for c in compared)
    added, removed, changed = con.execute(
        f"""
        WITH n AS (SELECT {k} AS key, hash({values}) AS h FROM {new_relation}),
             o AS (SELECT {k} AS key, hash({values}) AS h FROM {old_table})
        SELECT
          count(*) FILTER (WHERE o.key IS NULL),
          count(*) FILTER (WHERE n.key IS NULL),
          count(*) FILTER (WHERE n.key IS NOT NULL AND o.key IS NOT NULL AND n.h <> o.h)
        FROM n FULL OUTER JOIN o ON n.key = o.key
        """
    ).fetchone()
    summary = (
        f"Since the last materialization: {added} added, {removed} removed, {changed} changed."
    )
    return {
        "changes": dg.MetadataValue.md(summary),
        "rows_added": dg.MetadataValue.int(added),
        "rows_removed": dg.MetadataValue.int(removed),
        "rows_changed": dg.MetadataValue.int(changed),
    }

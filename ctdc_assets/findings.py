"""What the gates and the harmonization found, with the actual values, kept in the warehouse.

Reports, metadata and the Dagster instance show a delivery's values only as
`redaction` allows; the engineer who has to fix a crosswalk or ask a contributor needs
the values themselves. They go to `audit.findings` in the encrypted warehouse (one row
per finding, row numbers as plain text) and `ctdc findings CONTRIBUTOR` prints them.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from ctdc_assets.quality.results import GateResult
from ctdc_assets.warehouse.io import exists
from ctdc_assets.warehouse.tables import FINDINGS

#: How a finding's kind marks a value no earlier delivery of the contributor had.
NEW = ", new"

SCHEMA = {
    "contributor": pl.String,
    "source": pl.String,  # "harmonize" or the gate
    "kind": pl.String,
    "column_name": pl.String,
    "value": pl.String,
    "rows": pl.Int64,
    "row_numbers": pl.String,
}


def frame(items: Iterable[tuple[str, str, str | None, int | None, str | None]]) -> pl.DataFrame:
    """(kind, column, value, rows, row numbers) tuples as a findings frame."""
    columns = ["kind", "column_name", "value", "rows", "row_numbers"]
    return pl.DataFrame(
        list(items), schema={c: SCHEMA[c] for c in columns}, orient="row"
    ).with_columns(pl.col("rows").cast(pl.Int64))


def harmonize_findings(unmapped: pl.DataFrame, extra_columns: Iterable[str]) -> pl.DataFrame:
    """Delivered columns the crosswalk does not know, and the unmapped source values
    (`audit.record_harmonize_audit`'s, marked new or not) with their first rows."""
    unknown = [("unknown column", name, None, None, None) for name in extra_columns]
    # One source value can feed several variables (an age: ageBroad and majorityStatus).
    distinct = unmapped.unique(["source_column", "source_value"], keep="first", maintain_order=True)
    values = [
        (f"unmapped value{NEW if new else ''}", column, value, rows, first or None)
        for column, value, rows, first, new in distinct.select(
            "source_column", "source_value", "rows", "first_rows", "new"
        ).iter_rows()
    ]
    return frame([*unknown, *values])


def gate_findings(result: GateResult) -> pl.DataFrame:
    """The failing values of a gate's failed expectations (critical and warnings); a
    failing row of the `schema` side table is a delivered column the suite does not know.
    The `unmapped` side table holds counts: the values behind them are the harmonize
    step's findings."""
    return frame(
        ("unknown column", value, None, None, None)
        if o.table == "schema"
        else (f"{o.severity}: {o.description}", ", ".join(o.columns), value, rows, row_numbers)
        for o in result.critical_failures + result.warnings
        if o.table != "unmapped"
        for value, rows, row_numbers in o.found
    )


def record_findings(
    con: duckdb.DuckDBPyConnection, contributor: str, source: str, found: pl.DataFrame
) -> None:
    """Replace what `source` found for `contributor` (in the caller's transaction)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {FINDINGS.schema}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {FINDINGS} (contributor VARCHAR, source VARCHAR, "
        "kind VARCHAR, column_name VARCHAR, value VARCHAR, rows BIGINT, row_numbers VARCHAR)"
    )
    con.execute(
        f"DELETE FROM {FINDINGS} WHERE contributor = ? AND source = ?", [contributor, source]
    )
    if found.height:
        con.register("_findings", found.select(frame([]).columns))
        con.execute(
            f"INSERT INTO {FINDINGS} SELECT ?, ?, kind, column_name, value, rows, row_numbers "
            "FROM _findings",
            [contributor, source],
        )
        con.unregister("_findings")


def terminal_lines(found: pl.DataFrame, source: str, limit: int = 10) -> list[str]:
    """`source`'s findings (up to `limit`) as the terminal of `ctdc run` shows them
    (actual values: the engineer's own terminal is inside the trust boundary, the
    instance is not)."""
    mine = found.filter(pl.col("source") == source)
    lines = []
    for kind, column, value, rows, row_numbers in (
        mine.select("kind", "column_name", "value", "rows", "row_numbers").head(limit).iter_rows()
    ):
        if value is None:
            lines.append(f"{kind}: column {column}")
        else:
            at = f", rows {row_numbers}" if row_numbers else ""
            lines.append(f"column {column}: {value!r} × {rows:,}{at} ({kind})")
    if mine.height > limit:
        lines.append(f"{mine.height - limit} more: ctdc findings")
    return lines


def read_findings(con: duckdb.DuckDBPyConnection, contributor: str) -> pl.DataFrame:
    """Everything recorded for `contributor`, most frequent first."""
    if not exists(con, FINDINGS):
        return pl.DataFrame(schema=SCHEMA)
    return con.execute(
        f"SELECT * FROM {FINDINGS} WHERE contributor = ? "
        "ORDER BY source, kind, rows DESC NULLS LAST, column_name, value",
        [contributor],
    ).pl()

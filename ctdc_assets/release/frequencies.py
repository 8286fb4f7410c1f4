"""How often each value occurs in each published column, for the codebook.

Computed the same way from the candidate table at publication and from the published
CSV in `ctdc verify` (every cell as text, one DuckDB scan: UNPIVOT, then GROUP BY), so
the codebook's figures are checked against the file a user downloads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

from ctdc_assets.warehouse.bounded import quote

EMPTY = ""  # an empty cell (none in a sound release)


@dataclass(frozen=True)
class Frequencies:
    """Records per value of every column (as text), and the number of records."""

    records: int
    counts: dict[str, dict[str, int]]  # column -> value -> records

    def of(self, column: str) -> dict[str, int]:
        return self.counts.get(column, {})

    def split(self, column: str, separator: str) -> dict[str, int]:
        """Records per label of a list column (a record counts once for each label)."""
        labels: Counter[str] = Counter()
        for value, records in self.of(column).items():
            for label in dict.fromkeys(value.split(separator)):
                labels[label] += records
        return dict(labels)


def value_frequencies(con: duckdb.DuckDBPyConnection, source: str) -> Frequencies:
    """Records per distinct value of every column of `source` (a table name or a table
    function such as `read_csv(...)`; text, an empty cell is ""). A plain query: the
    warehouse is read-only at publication, so no view is created."""
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    cells = ", ".join(f"coalesce(CAST({quote(c)} AS VARCHAR), '') AS {quote(c)}" for c in columns)
    rows = con.execute(
        f"SELECT name, value, count(*) FROM (UNPIVOT (SELECT {cells} FROM {source}) "
        "ON COLUMNS(*) INTO NAME name VALUE value) GROUP BY ALL"
    ).fetchall()
    counts: dict[str, dict[str, int]] = {c: {} for c in columns}
    for name, value, n in rows:
        counts[name][value] = int(n)
    total = sum(counts[columns[0]].values()) if columns else 0
    return Frequencies(total, counts)

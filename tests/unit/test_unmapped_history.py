"""An unmapped value is new only the first time a contributor's deliveries hold it:
re-harmonizing the same delivery keeps it new, the next delivery with it calls it
seen before, and a value that first appears there is new."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from ctdc_assets.crosswalk import COUNT_NAMES, Harmonized
from ctdc_assets.findings import harmonize_findings
from ctdc_assets.warehouse.audit import read_unmapped, record_harmonize_audit
from ctdc_assets.warehouse.tables import raw


def _harmonize(con: duckdb.DuckDBPyConnection, sha256: str, values: list[str]) -> pl.DataFrame:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        f"CREATE OR REPLACE TABLE {raw('hotline')} AS SELECT ? AS delivery_sha256", [sha256]
    )
    unmapped = pl.DataFrame(
        {
            "variable": ["gender"] * len(values),
            "source_column": ["victim_gender"] * len(values),
            "source_value": values,
            "rows": [1] * len(values),
            "first_rows": ["11"] * len(values),
        }
    )
    result = Harmonized(
        frame=pl.DataFrame(),
        counts=dict.fromkeys(COUNT_NAMES, 0),
        unmapped=unmapped,
        extra_columns=[],
    )
    return record_harmonize_audit(con, "hotline", result, raw("hotline"))


def _new(frame: pl.DataFrame) -> dict[str, bool]:
    return dict(frame.select("source_value", "new").iter_rows())


def test_new_means_never_in_an_earlier_delivery(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert _new(_harmonize(con, "aaa", ["Mle"])) == {"Mle": True}
        # The same delivery again (a crosswalk edit, a re-run): still new.
        assert _new(_harmonize(con, "aaa", ["Mle"])) == {"Mle": True}
        second = _harmonize(con, "bbb", ["Mle", "Femal"])
        assert _new(second) == {"Mle": False, "Femal": True}
        assert _new(read_unmapped(con, "hotline")) == {"Mle": False, "Femal": True}
        kinds = dict(harmonize_findings(second, []).select("value", "kind").iter_rows())
        assert kinds == {"Mle": "unmapped value", "Femal": "unmapped value, new"}

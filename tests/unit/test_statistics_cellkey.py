"""The cell-key method: its ptable, its tables, and the gate's recount from the records."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from synthetic import statistics_victims

from ctdc_assets.statistics import audit_tables, compute_aggregates
from ctdc_assets.statistics.aggregates import ALL, GUIDE, PTABLE
from ctdc_assets.statistics.audit_recount import audit_recount
from ctdc_assets.statistics.cellkey import CellKeyParams, properties, ptable

K = 11
PARAMS = CellKeyParams(max_deviation=10, variance=4, threshold=K - 1)


@pytest.fixture(scope="module")
def victims() -> pl.DataFrame:
    frame = statistics_victims(3_000, seed=5)
    keys = np.random.default_rng(9).integers(0, 1 << 32, frame.height)
    return frame.with_columns(pl.Series("cell_record_key", keys))


@pytest.fixture(scope="module")
def tables(victims) -> dict[str, pl.DataFrame]:
    return compute_aggregates(victims, K, PARAMS)


def test_the_ptable_keeps_zeros_and_never_publishes_a_small_count() -> None:
    table = ptable(PARAMS)
    published = table["count"] + table["perturbation"]
    assert not ((published >= 1) & (published < K)).any()
    assert table.filter(pl.col("count") == 0)["perturbation"].to_list() == [0]
    assert table["perturbation"].abs().max() == 10
    for _, rows in table.group_by("count"):
        assert rows["probability"].sum() == pytest.approx(1)
    figures = properties(table, PARAMS)
    assert figures["max_abs_bias"] < 1e-6  # unbiased at every count
    assert figures["variance_large_counts"] == pytest.approx(4, abs=1e-3)


def test_nothing_is_withheld_and_every_table_passes_the_audits(tables, victims) -> None:
    for name, table in tables.items():
        if name not in (GUIDE, PTABLE):
            assert not table["suppressed"].any(), name
            assert table["count"].min() >= K, name
    assert audit_tables(tables, K) == []
    assert audit_recount(victims, tables) == []


def test_the_same_people_get_the_same_count_in_every_table(tables) -> None:
    everyone = [
        tables[name].filter(pl.all_horizontal(pl.col(d) == ALL for d in dims))["count"][0]
        for name, dims in [
            ("victims_by_year_datasource", ["year", "region", "datasource"]),
            ("victims_by_gender_age", ["year", "region", "gender", "age_band"]),
            ("means_of_control", ["year", "region", "means_of_control"]),
        ]
    ]
    assert len(set(everyone)) == 1


def test_other_record_keys_give_other_noise(victims, tables) -> None:
    rekeyed = victims.with_columns(
        pl.Series("cell_record_key", np.random.default_rng(1).integers(0, 1 << 32, victims.height))
    )
    other = compute_aggregates(rekeyed, K, PARAMS)["victims_by_citizenship"]
    assert not other.equals(tables["victims_by_citizenship"])


def test_the_recount_finds_a_count_changed_by_one(victims, tables) -> None:
    table = tables["victims_by_exploitation_country"]
    changed = dict(tables)
    inner = (pl.col("year") != ALL) & (pl.col("exploitation_country") != ALL)
    first = table.with_row_index().filter(inner)["index"][0]  # a part, in no other table
    changed["victims_by_exploitation_country"] = table.with_columns(
        pl.when(pl.int_range(pl.len()) == first)
        .then(pl.col("count") + 1)
        .otherwise(pl.col("count"))
    )
    found = audit_recount(victims, changed)
    assert [f.table for f in found] == ["victims_by_exploitation_country"]
    assert "ptable's perturbation" in found[0].reason


def test_the_recount_finds_an_unperturbed_small_count(victims, tables) -> None:
    true = compute_aggregates(victims, threshold=1)["victims_by_citizenship"]
    small = true.filter(pl.col("count") < K).head(1)
    changed = dict(tables)
    changed["victims_by_citizenship"] = pl.concat(
        [tables["victims_by_citizenship"], small.select(tables["victims_by_citizenship"].columns)]
    )
    reasons = {f.reason for f in audit_recount(victims, changed)}
    assert "a small count is published unperturbed" in reasons


def test_the_recount_rejects_a_ptable_that_publishes_small_counts(victims, tables) -> None:
    changed = dict(tables)
    changed[PTABLE] = tables[PTABLE].with_columns(
        pl.when(pl.col("count") == 3)
        .then(0)
        .otherwise(pl.col("perturbation"))
        .alias("perturbation")
    )
    assert any("1..10" in f.reason for f in audit_recount(victims, changed))


def test_the_recount_never_imports_the_perturbation_code() -> None:
    code = (
        "import sys, ctdc_assets.statistics.audit_recount; "
        "print('ctdc_assets.statistics.cellkey' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_recount_finds_a_crossing_left_out(victims, tables) -> None:
    table = tables["victims_by_gender_age"]
    crossing = (pl.col("year") != ALL) & (pl.col("gender") != ALL) & (pl.col("age_band") == ALL)
    changed = dict(tables)
    changed["victims_by_gender_age"] = table.filter(~crossing)
    reasons = {f.reason for f in audit_recount(victims, changed)}
    assert "left out, but the ptable publishes it" in reasons

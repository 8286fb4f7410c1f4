"""The blocking audit fails on a small or recoverable count, from the tables alone."""

from __future__ import annotations

import polars as pl
import pytest

from ctdc_assets.statistics import Finding, audit_tables, compute_aggregates
from ctdc_assets.statistics.aggregates import ALL, GUIDE
from ctdc_assets.statistics.synthetic import synthetic_victims

K = 11


@pytest.fixture(scope="module")
def victims() -> pl.DataFrame:
    return synthetic_victims(3_000, seed=9)


@pytest.fixture(scope="module")
def tables(victims: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return compute_aggregates(victims, threshold=K)


@pytest.fixture(scope="module")
def truth(victims: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return compute_aggregates(victims, threshold=1)


def dims_of(tables: dict[str, pl.DataFrame], name: str) -> list[str]:
    return tables[GUIDE].filter(pl.col("table") == name)["dimensions"].item().split(",")


def publish(table: pl.DataFrame, truth: pl.DataFrame, dims: list[str], where: pl.Expr):
    """The table with the rows matching `where` un-suppressed (their true count shown)."""
    true = truth.select(*dims, pl.col("count").alias("_true"))
    return (
        table.join(true, on=dims, how="left")
        .with_columns(
            pl.when(where).then(pl.col("_true")).otherwise(pl.col("count")).alias("count"),
            pl.when(where).then(False).otherwise(pl.col("suppressed")).alias("suppressed"),
        )
        .drop("_true")
    )


def no_value_in(findings: list[Finding], values: set[int]) -> None:
    """Findings never print a count (the suppressed value above all)."""
    text = " ".join(f"{f.table} {f.cell} {f.reason}" for f in findings)
    for value in values:
        assert f"={value}," not in text and f" {value} " not in f" {text} "


def test_clean_tables_pass(tables):
    assert audit_tables(tables, K) == []


def test_a_small_count_forced_into_a_table_fails(tables, truth):
    name = "victims_by_gender_age"
    dims = dims_of(tables, name)
    small = (
        truth[name]
        .join(tables[name].select(*dims, "suppressed"), on=dims)
        .filter(pl.col("count") < K)
        .head(1)
    )
    assert small.height == 1
    row = small.row(0, named=True)
    where = pl.all_horizontal([pl.col(d) == row[d] for d in dims])
    forced = dict(tables) | {name: publish(tables[name], truth[name], dims, where)}
    findings = audit_tables(forced, K)
    mine = [f for f in findings if f.table == name and "below the threshold" in f.reason]
    assert len(mine) == 1
    assert all(f"{d}={row[d]}" in mine[0].cell for d in dims)
    no_value_in(findings, {row["count"]})


def line_with_two_hidden_parts(tables):
    """(table, dims, first, second): a published total whose parts hide exactly two."""
    guide = tables[GUIDE]
    for row in guide.iter_rows(named=True):
        name, dims = row["table"], row["dimensions"].split(",")
        skip = set(row["multi_response"].split(",")) | set(row["fixed"].split(","))
        table = tables[name]
        for dim in [d for d in dims if d not in skip]:
            others = [d for d in dims if d != dim]
            totals = table.filter((pl.col(dim) == ALL) & ~pl.col("suppressed")).select(others)
            hidden = table.filter((pl.col(dim) != ALL) & pl.col("suppressed"))
            pairs = (
                hidden.join(totals, on=others)
                .group_by(others)
                .agg(pl.len().alias("n"))
                .filter(pl.col("n") == 2)
            )
            if pairs.height:
                key = pairs.row(0, named=True)
                line = hidden.filter(pl.all_horizontal([pl.col(d) == key[d] for d in others]))
                return name, dims, line.row(0, named=True), line.row(1, named=True)
    raise AssertionError("the fixture should have a total with two suppressed parts")


def test_a_recoverable_suppressed_count_fails(tables, truth):
    """Publish one of exactly two suppressed parts of a published total: the other
    part is then total minus the published parts, and the audit must say so."""
    name, dims, first, second = line_with_two_hidden_parts(tables)
    where = pl.all_horizontal([pl.col(d) == first[d] for d in dims])
    forced = dict(tables) | {name: publish(tables[name], truth[name], dims, where)}
    findings = audit_tables(forced, K)
    second_cell = ", ".join(f"{d}={second[d]}" for d in dims)
    assert any(f.cell == second_cell and "only suppressed part" in f.reason for f in findings), (
        findings
    )
    true_second = truth[name].filter(pl.all_horizontal([pl.col(d) == second[d] for d in dims]))
    no_value_in(findings, {int(true_second["count"].item())})


def test_a_share_of_a_suppressed_count_fails(tables):
    name = "means_of_control"
    table = tables[name].with_columns(
        pl.when(pl.col("suppressed")).then(0.5).otherwise(pl.col("share")).alias("share")
    )
    findings = audit_tables(dict(tables) | {name: table}, K)
    assert any(f.table == name and "share" in f.reason for f in findings)


def test_a_count_suppressed_in_one_table_but_published_in_another_fails(tables, truth):
    name = "victims_by_exploitation_country"
    # the region totals by year are also in victims_by_year_datasource
    target = tables[name].filter(
        (pl.col("exploitation_country") == ALL) & pl.col("suppressed") & (pl.col("year") != ALL)
    )
    if not target.height:
        pytest.skip("no suppressed region total in this sample")
    row = target.row(0, named=True)
    other = "victims_by_year_datasource"
    other_dims = dims_of(tables, other)
    where = (
        (pl.col("year") == row["year"])
        & (pl.col("region") == row["region"])
        & (pl.col("datasource") == ALL)
    )
    forced = dict(tables) | {other: publish(tables[other], truth[other], other_dims, where)}
    findings = audit_tables(forced, K)
    assert any("published in" in f.reason for f in findings), findings


def test_missing_guide_fails(tables):
    without = {k: v for k, v in tables.items() if k != GUIDE}
    assert audit_tables(without, K)[0].table == GUIDE


def _guide(dims: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table": ["t"],
            "title": ["t"],
            "description": ["t"],
            "dimensions": [dims],
            "multi_response": [""],
            "fixed": [""],
            "nested": [""],
            "unknown_values": [""],
            "people_counted": ["all victims"],
            "threshold": [K],
            "method": ["secondary"],
        }
    )


def _table(cells: dict[tuple[str, str], int], hidden: set[tuple[str, str]]) -> pl.DataFrame:
    """A two-way table a x b with its margins; `hidden` cells suppressed."""
    rows = sorted({a for a, _ in cells})
    cols = sorted({b for _, b in cells})
    out = []
    for a in [*rows, ALL]:
        for b in [*cols, ALL]:
            n = sum(v for (x, y), v in cells.items() if a in (x, ALL) and b in (y, ALL))
            if n == 0:
                continue
            gone = (a, b) in hidden
            out.append(
                {
                    "year": ALL,
                    "region": ALL,
                    "a": a,
                    "b": b,
                    "count": None if gone else n,
                    "suppressed": gone,
                    "total": None,
                    "share": None,
                    "unknown_share": None,
                }
            )
    return pl.DataFrame(out, schema_overrides={"count": pl.Int64, "total": pl.Int64})


def test_a_count_determined_only_by_combining_totals_fails():
    """Two blocks of suppressed cells joined by one cell (a bridge): every row and column
    has two or more suppressed cells, yet the bridge follows from the margins."""
    cells = {(r, c): 20 + 3 * i + j for i, r in enumerate("ABCD") for j, c in enumerate("1234")}
    block = {("A", "1"), ("A", "2"), ("B", "1"), ("B", "2")}
    block |= {("C", "3"), ("C", "4"), ("D", "3"), ("D", "4")}
    tables = {GUIDE: _guide("year,region,a,b"), "t": _table(cells, block | {("B", "3")})}
    findings = audit_tables(tables, K)
    determined = [f for f in findings if "combining" in f.reason]
    assert [f.cell for f in determined] == ["year=All, region=All, a=B, b=3"]
    assert audit_tables({GUIDE: tables[GUIDE], "t": _table(cells, block)}, K) == []

"""The blocking audit fails on a small or recoverable count, from the tables alone."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic import statistics_victims

from ctdc_assets.statistics import Finding, audit_tables
from ctdc_assets.statistics.aggregates import ALL, GUIDE

K = 11


@pytest.fixture(scope="module")
def victims() -> pl.DataFrame:
    return statistics_victims(3_000, seed=9)


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


def _exact_rank(rows: list[list[int]]) -> int:
    """Rank over the rationals (Fractions): the reference the fast checks must match."""
    from fractions import Fraction

    matrix = [[Fraction(v) for v in row] for row in rows]
    rank, width = 0, len(matrix[0]) if matrix else 0
    for column in range(width):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column]), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column]:
                factor = matrix[r][column] / matrix[rank][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def test_exact_linear_checks_find_exactly_the_determined_counts():
    """Protection and audit each decide, with their own exact elimination, which unknowns
    a system of sums fixes; both must agree with the rank test (e_c in the row space)
    on many random small systems, including dependent and redundant relations."""
    import random

    from ctdc_assets.statistics import audit, protection

    rng = random.Random(3)
    for _ in range(300):
        width, height = rng.randint(1, 9), rng.randint(1, 8)
        rows = [[rng.choice((-1, 0, 0, 1)) for _ in range(width)] for _ in range(height)]
        rows += [list(rows[0])] if rng.random() < 0.3 else []  # a relation shown twice
        rank = _exact_rank(rows)
        expected = {
            c
            for c in range(width)
            if any(row[c] for row in rows)
            and _exact_rank([*rows, [int(i == c) for i in range(width)]]) == rank
        }
        sparse = [{c: v for c, v in enumerate(row) if v} for row in rows]
        mine = protection.null_vector(
            [{c: v % protection.PRIME for c, v in row.items()} for row in sparse]
        )
        theirs = audit._random_null_vector(
            [{c: v % audit.MODULUS for c, v in row.items()} for row in sparse], seed=1
        )
        assert {c for c, v in mine.items() if v == 0} == expected, rows
        assert {c for c, v in theirs.items() if v == 0} == expected, rows


@pytest.mark.parametrize("recheck", ["neighbourhood", "whole system"])
def test_protection_breaks_a_bridge_between_two_blocks_of_small_counts(recheck, monkeypatch):
    """The bridge of the test above arising from the data: small counts in two 2 x 2
    blocks and one between them. Rules 1-4 leave the bridge recoverable; the linear
    step must suppress one more count, and the audit then passes (whether the repair is
    re-checked around the repaired counts or on the whole system)."""
    from ctdc_assets.statistics import protection
    from ctdc_assets.statistics.protection import Layout, protect

    if recheck == "whole system":
        monkeypatch.setattr(protection, "LOCAL_CELLS", 0)

    small = {("A", "1"), ("A", "2"), ("B", "1"), ("B", "2")}
    small |= {("C", "3"), ("C", "4"), ("D", "3"), ("D", "4"), ("B", "3")}
    cells = {
        (r, c): (6 if (r, c) in small else 40 + 3 * i + j)
        for i, r in enumerate("ABCD")
        for j, c in enumerate("1234")
    }
    raw = _table(cells, set()).select("year", "region", "a", "b", "count")
    layout = Layout(("year", "region", "a", "b"), frozenset({"year", "region", "a", "b"}))
    protected = protect({"t": raw}, {"t": layout}, K)["t"]
    hidden = {(a, b) for a, b, gone in protected.select("a", "b", "suppressed").iter_rows() if gone}
    assert small <= hidden and len(hidden) > len(small)  # the bridge needed one more
    published = protected.with_columns(
        pl.lit(None, dtype=pl.Int64).alias("total"),
        pl.lit(None, dtype=pl.Float64).alias("share"),
        pl.lit(None, dtype=pl.Float64).alias("unknown_share"),
    )
    assert audit_tables({GUIDE: _guide("year,region,a,b"), "t": published}, K) == []
    before = {GUIDE: _guide("year,region,a,b"), "t": _table(cells, small)}
    assert any("combining" in f.reason for f in audit_tables(before, K))

"""Aggregate tables: what analysts read in them, and that small cells never show."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic import statistics_victims

from ctdc_assets.standard import load_standard
from ctdc_assets.statistics import audit_tables, compute_aggregates
from ctdc_assets.statistics.aggregates import ALL, GUIDE, MEASURES, table_specs

K = 11


@pytest.fixture(scope="module")
def victims() -> pl.DataFrame:
    return statistics_victims(3_000, seed=5)


def grand(table: pl.DataFrame) -> pl.DataFrame:
    """Rows for all years and all regions."""
    return table.filter((pl.col("year") == ALL) & (pl.col("region") == ALL))


def test_every_table_the_issue_asks_for_is_there_with_its_guide(tables):
    expected = {
        "victims_by_year_datasource",
        "victims_by_gender_age",
        "victims_by_citizenship",
        "victims_by_exploitation_country",
        "flows_citizenship_to_exploitation",
        "exploitation_type_by_gender",
        "exploitation_type_by_majority",
        "means_of_control",
        "forced_labour_industries",
        "sexual_exploitation_types",
        "recruiter_relationship",
    }
    assert set(tables) == expected | {GUIDE}
    guide = tables[GUIDE]
    assert set(guide["table"]) == expected
    for row in guide.iter_rows(named=True):
        table = tables[row["table"]]
        assert set(row["dimensions"].split(",")) | set(MEASURES) <= set(table.columns)
        assert row["threshold"] == K
        assert "secondary" in row["method"]


def test_totals_are_the_number_of_victims_and_shares_follow(tables, victims):
    for name, table in tables.items():
        if name == GUIDE:
            continue
        top = grand(table)
        totals = top["total"].unique().to_list()
        scoped = name in {"forced_labour_industries", "sexual_exploitation_types"}
        if not scoped:
            assert totals == [victims.height], name
        shares = top.filter(pl.col("count").is_not_null())
        assert (shares["share"] - shares["count"] / shares["total"]).abs().max() < 1e-12
        assert top["unknown_share"].drop_nulls().is_between(0, 1).all()


def test_counts_match_a_direct_count_of_the_records(tables, truth, victims):
    by_gender = grand(truth["victims_by_gender_age"]).filter(pl.col("age_band") == ALL)
    direct = victims.group_by("gender").len()
    for gender, n in direct.iter_rows():
        assert by_gender.filter(pl.col("gender") == gender)["count"].item() == n
    fl = victims.filter(pl.col("isForcedLabour") == 1).height
    industries = grand(truth["forced_labour_industries"])
    assert industries.filter(pl.col("industry") == ALL)["count"].item() == fl
    agriculture = victims.filter(pl.col("typeOfLabourAgriculture") == 1).height
    label = load_standard().variable("typeOfLabourAgriculture").label
    assert industries.filter(pl.col("industry") == label)["count"].item() == agriculture


def test_multi_response_rows_count_people_once_per_value(truth, victims):
    types = grand(truth["exploitation_type_by_gender"]).filter(pl.col("gender") == ALL)
    labelled = types.filter(pl.col("type_of_exploitation") != ALL)
    assert labelled["count"].sum() > victims.height  # several types per person
    not_recorded = labelled.filter(pl.col("type_of_exploitation") == "Not recorded")
    assert not_recorded["count"].item() == victims.filter(pl.col("isForcedLabour") == -99).height


def test_no_published_count_is_small_and_suppressed_rows_give_nothing_away(tables):
    for name, table in tables.items():
        if name == GUIDE:
            continue
        published = table.filter(pl.col("count").is_not_null())
        assert not published.filter(pl.col("count") < K).height, name
        hidden = table.filter(pl.col("suppressed"))
        assert hidden["count"].null_count() == hidden.height
        assert hidden["share"].null_count() == hidden.height


def test_small_true_counts_are_all_suppressed_and_published_ones_are_exact(tables, truth):
    for name in tables:
        if name == GUIDE:
            continue
        dims = tables[GUIDE].filter(pl.col("table") == name)["dimensions"].item().split(",")
        both = tables[name].join(
            truth[name].select(*dims, pl.col("count").alias("true")), on=dims, how="left"
        )
        small = both.filter(pl.col("true") < K)
        assert small["suppressed"].all(), name
        shown = both.filter(~pl.col("suppressed"))
        assert (shown["count"] == shown["true"]).all(), name


def test_independent_audit_passes_on_what_protection_produced(tables):
    assert audit_tables(tables, K) == []


def test_country_codes_stay_as_published_and_are_named(victims):
    frame = victims.with_columns(pl.lit("NA").alias("citizenship"))  # Namibia, not null
    tables = compute_aggregates(frame.head(300), threshold=K)
    cit = grand(tables["victims_by_citizenship"]).filter(pl.col("citizenship") == "NA")
    assert set(cit["citizenship_name"]) == {"Namibia"}
    assert set(cit["citizenship_region"]) == {"Africa", ALL}  # the region, and all regions


def test_tables_hold_every_year_and_region_the_dashboard_can_filter_on(tables, victims):
    by_year = tables["victims_by_year_datasource"].filter(
        (pl.col("region") == ALL) & (pl.col("datasource") == ALL) & (pl.col("year") != ALL)
    )
    years = {str(y) for y in victims["yearOfRegistration"].unique() if y > 0}
    assert years <= set(by_year["year"])
    regions = set(tables["victims_by_exploitation_country"]["region"])
    assert {"Africa", "Americas", "Asia", "Europe", "Oceania", ALL} <= regions


def test_spec_names_are_unique():
    names = [spec.name for spec in table_specs()]
    assert len(names) == len(set(names))

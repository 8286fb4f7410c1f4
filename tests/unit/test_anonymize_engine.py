"""The anonymization engine on synthetic victims: k holds, records stay, nothing leaks."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic import anonymization_victims

from ctdc_assets.anonymize import LDiversity, audit_release, failures, k_anonymity
from ctdc_assets.anonymize.engine import AnonymizationError, anonymize
from ctdc_assets.anonymize.figures import release_figures
from ctdc_assets.regions import un_regions
from ctdc_assets.standard import load_standard

RECORDS = 6_000


@pytest.fixture(scope="module")
def victims() -> pl.DataFrame:
    return anonymization_victims(RECORDS, seed=3)


@pytest.fixture(scope="module")
def result(victims, policy, hierarchies):
    return anonymize(victims, policy, hierarchies=hierarchies)


def test_the_release_passes_every_gate(result, policy, hierarchies) -> None:
    findings = audit_release(result.frame, policy, total_records=RECORDS, hierarchies=hierarchies)
    assert [f.check for f in findings if f.passed] == [f.check for f in findings]
    assert k_anonymity(result.frame, policy.release_qi_columns) >= policy.k


def test_far_more_is_published_than_with_the_ctdc_method(result) -> None:
    ours, ctdc = result.figures["ours"], result.figures["ctdc_method"]
    assert ours["records_published_share"] >= 0.95
    assert ours["records_published"] > ctdc["records_published"]
    for column in ("citizenship", "CountryOfExploitation"):
        kept = ours["distinct_countries_at_country_level"][column]
        assert kept > ctdc["distinct_countries_at_country_level"][column]
    assert ours["smallest_class"] >= 11 and ctdc["smallest_class"] >= 11


def test_internal_columns_never_reach_the_release(result, victims, policy) -> None:
    standard = load_standard()
    assert result.frame.columns == policy.release_columns(standard)
    assert not set(standard.internal_columns) & set(result.frame.columns)
    keys = set(victims["record_key"].to_list())
    for column in result.frame.columns:
        values = set(result.frame[column].cast(pl.String).unique().to_list())
        assert not values & keys


def test_sensitive_columns_are_published_unchanged(result, victims) -> None:
    """Only quasi-identifiers are recoded; no record is lost here, so columns match as sets."""
    assert result.records_deleted == 0
    for column in ("typeOfExploitConcatenated", "meansOfControlDebtBondage", "isAbduction"):
        assert sorted(result.frame[column].to_list()) == sorted(victims[column].to_list())


def test_region_columns_agree_with_the_country_or_carry_its_region(result) -> None:
    regions = un_regions()
    frame = result.frame
    for column in ("citizenship", "CountryOfExploitation"):
        rows = frame.select(column, f"{column}Subregion", f"{column}Region").unique().rows()
        for country, subregion, region in rows:
            if country in regions:
                assert (subregion, region) == regions[country]
            elif country == "*":
                assert region != "-99"  # a withheld country is never shown as missing
            else:
                assert country in {"00", "-99"} and subregion == region == country


def test_output_does_not_depend_on_input_order(result, victims, policy, hierarchies) -> None:
    shuffled = victims.sample(fraction=1.0, shuffle=True, seed=5)
    again = anonymize(shuffled, policy, hierarchies=hierarchies)
    assert again.frame.equals(result.frame)


def test_figures_are_json_and_side_by_side(result) -> None:
    import json

    figures = json.loads(json.dumps(result.figures))
    assert {"ours", "ctdc_method", "input", "method"} <= set(figures)
    assert set(figures["ours"]) == set(figures["ctdc_method"])
    assert result.generalization == figures["method"]["global_generalization"]
    assert figures["ours"]["max_prosecutor_risk"] <= 1 / 11


def test_a_few_outliers_borrow_records_rather_than_being_deleted(policy, hierarchies) -> None:
    victims = anonymization_victims(200, seed=1)
    common = victims.head(1)
    rare = victims.filter(pl.col("Datasource") == "Case Management").tail(3)
    frame = pl.concat([pl.concat([common] * 150), rare])
    result = anonymize(frame, policy, hierarchies=hierarchies)
    assert result.records_deleted == 0
    assert k_anonymity(result.frame, policy.release_qi_columns) >= 11


def test_fewer_records_than_k_publish_nothing(policy, hierarchies) -> None:
    result = anonymize(anonymization_victims(8), policy, hierarchies=hierarchies)
    assert result.frame.height == 0 and result.records_deleted == 8
    findings = audit_release(result.frame, policy, total_records=8, hierarchies=hierarchies)
    assert [f.check for f in failures(findings)] == ["suppression"]


def test_l_diversity_when_the_policy_asks_for_it(victims, policy, hierarchies) -> None:
    diverse = policy.model_copy(
        update={"l_diversity": LDiversity(l=2, attributes=["typeOfExploitConcatenated"])}
    )
    result = anonymize(victims, diverse, hierarchies=hierarchies)
    assert not failures(audit_release(result.frame, diverse, total_records=RECORDS))
    figures = release_figures(result.frame, diverse, records_total=RECORDS)
    assert figures["records_in_homogeneous_classes"]["typeOfExploitConcatenated"] == 0


def test_values_outside_the_standard_are_refused_without_showing_them(
    victims, policy, hierarchies
) -> None:
    bad = victims.head(50).with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit("Atlantis"))
        .otherwise(pl.col("citizenship"))
        .alias("citizenship")
    )
    with pytest.raises(AnonymizationError, match=r"citizenship: 1 values outside.*rows 8") as info:
        anonymize(bad, policy, hierarchies=hierarchies)
    assert "Atlantis" not in str(info.value)

"""The three shipped crosswalks over the sample generator's deliveries (`write_sample`)."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SAMPLE_CONTRIBUTORS

from ctdc_assets import sample_data
from ctdc_assets.crosswalk import (
    Crosswalk,
    Harmonized,
    harmonize,
    read_delivery,
    unexpected_columns,
)
from ctdc_assets.quality.gates import unmapped_table
from ctdc_assets.standard import load_standard

KEY = b"sample-test-key"


@pytest.fixture(scope="module")
def harmonized(
    sample_deliveries, crosswalks: dict[str, Crosswalk]
) -> dict[str, tuple[pl.DataFrame, Harmonized]]:
    # 3,000 rather than 300 records: the generator plants every dirty spelling at least
    # once, which at 300 records is a few percent of a small contributor's rows.
    paths = sample_deliveries(3000, 11)
    results = {}
    for name in SAMPLE_CONTRIBUTORS:
        raw = read_delivery(crosswalks[name], paths[name])
        results[name] = (raw, harmonize(crosswalks[name], raw, KEY))
    return results


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_counts_reconcile(harmonized, name: str) -> None:
    raw, result = harmonized[name]
    c = result.counts
    assert c["delivered"] == raw.height > 0
    assert c["delivered"] - c["no_consent"] - c["out_of_scope"] - c["duplicates"] == c["harmonized"]
    assert result.frame.height == c["harmonized"] > 0
    assert result.frame["record_key"].n_unique() == result.frame.height


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_values_in_the_standard(harmonized, name: str) -> None:
    std = load_standard()
    _, result = harmonized[name]
    for column, dtype in std.polars_schema(internal=True).items():
        assert result.frame.schema[column] == dtype, column
    assert result.frame.columns == std.columns + std.internal_columns
    text = result.frame.select(std.columns).cast(pl.String)
    for var in std.variables:
        values = set(text[var.name].unique().to_list())
        assert None not in values, var.name
        if var.type == "list":
            labels = set(std.list_labels(var.name))
            parts = {p for v in values - {"-99"} for p in v.split(var.separator or ";")}
            assert parts <= labels, (var.name, parts - labels)
        else:
            assert values <= std.allowed_values(var.name), (var.name, values)


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_no_identifier_or_canary_leaves_raw(harmonized, name: str) -> None:
    raw, result = harmonized[name]
    identifiers = sample_data.IDENTIFIER_COLUMNS[name]
    assert (
        raw.select(identifiers)
        .cast(pl.String)
        .select(pl.any_horizontal(pl.all().str.contains(sample_data.CANARY_PREFIX)).any())
        .item()
    ), "the generator plants canaries in raw"
    assert not set(result.frame.columns) & set(identifiers)
    for frame in (result.frame.cast(pl.String), result.unmapped.cast(pl.String)):
        for column in frame.columns:
            assert not frame[column].drop_nulls().str.contains(sample_data.CANARY_PREFIX).any()
    case_ids = set(raw[identifiers[0]].drop_nulls()) if identifiers else set()
    for column in result.frame.select(pl.col(pl.String)).columns:
        assert not case_ids & set(result.frame[column].drop_nulls()), column


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_unmapped_below_threshold_and_columns_known(harmonized, crosswalks, name: str) -> None:
    raw, result = harmonized[name]
    crosswalk = crosswalks[name]
    quality = crosswalk.quality
    shares = unmapped_table(
        result.unmapped,
        result.counts["harmonized"],
        max_share=quality.max_unmapped_share,
        max_share_by_variable=quality.max_unmapped_share_by_variable,
    )
    over = shares.filter(pl.col("rows") > pl.col("allowed_rows"))
    assert over.height == 0, over.to_dicts()
    assert unexpected_columns(crosswalk, raw) == []
    assert sorted(crosswalk.identifiers) == sorted(sample_data.IDENTIFIER_COLUMNS[name])


def test_contributor_specifics(harmonized) -> None:
    _, hotline = harmonized["hotline"]
    means = [c for c in hotline.frame.columns if c.startswith("meansOfControl")][:-1]
    flags = hotline.frame.select(means).unpivot()["value"]
    assert 0 not in set(flags), "hotline means of control are 1 or -99, never 0"
    assert set(hotline.frame["Datasource"]) == {"Hotline"}
    assert hotline.frame["yearOfRegistration"].min() >= 2015
    _, ngo = harmonized["ngo_network"]
    assert "NA" not in set(ngo.frame["gender"])
    _, agency = harmonized["case_agency"]
    assert set(agency.frame["Datasource"]) == {"Case Management"}
    assert (agency.frame["meansOfControlDebtBondage"] == 0).any()

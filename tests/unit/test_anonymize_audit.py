"""The independent release gates: they pass a good release and catch tampered ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from pycanon import anonymity
from synthetic import anonymization_victims

from ctdc_assets.anonymize import (
    LDiversity,
    audit_release,
    failures,
    k_anonymity,
    l_diversity,
)
from ctdc_assets.anonymize.engine import anonymize
from ctdc_assets.anonymize.figures import release_figures

RECORDS = 4_000


@pytest.fixture(scope="module")
def release(policy, hierarchies) -> pl.DataFrame:
    return anonymize(anonymization_victims(RECORDS, seed=9), policy, hierarchies=hierarchies).frame


def _failed(frame: pl.DataFrame, policy, total: int = RECORDS) -> dict[str, str]:
    return {f.check: f.summary for f in failures(audit_release(frame, policy, total_records=total))}


def test_the_published_csv_is_k_anonymous_for_pycanon(release, policy, tmp_path: Path) -> None:
    """pycanon, an independent implementation, reads the CSV a user downloads."""
    path = tmp_path / "victims.csv"
    release.write_csv(path)
    published = pd.read_csv(path, dtype=str, keep_default_na=False)  # keep Namibia (NA)
    assert anonymity.k_anonymity(published, policy.release_qi_columns) >= policy.k
    assert anonymity.k_anonymity(published, policy.qi_names) >= policy.k
    as_text = pl.read_csv(path, infer_schema_length=0)
    assert _failed(as_text, policy) == {}


def test_a_record_made_unique_is_caught(release, policy) -> None:
    row = int(release["citizenship"].arg_max() or 0)
    tampered = release.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit("IS"))
        .otherwise(pl.col("citizenship"))
        .alias("citizenship"),
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit("Northern Europe"))
        .otherwise(pl.col("citizenshipSubregion"))
        .alias("citizenshipSubregion"),
    )
    failed = _failed(tampered, policy)
    assert set(failed) == {"k_anonymity"}
    assert "smaller than k = 11" in failed["k_anonymity"] and "smallest 1" in failed["k_anonymity"]
    assert k_anonymity(tampered, policy.release_qi_columns) == 1


def test_a_class_thinned_below_k_is_caught(release, policy) -> None:
    columns = policy.release_qi_columns
    sizes = release.group_by(columns).len()
    smallest = sizes.sort("len").head(1).drop("len")
    members = release.join(smallest, on=columns, how="semi")
    thinned = pl.concat([release.join(smallest, on=columns, how="anti"), members.head(3)])
    assert "k_anonymity" in _failed(thinned, policy)


def test_internal_columns_and_unknown_values_are_caught(release, policy) -> None:
    leaked = release.with_columns(pl.lit("abc123").alias("record_key"))
    assert "internal: record_key" in _failed(leaked, policy)["columns"]
    odd = release.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("Forced labour;Jane Doe"))
        .otherwise(pl.col("typeOfExploitConcatenated"))
        .alias("typeOfExploitConcatenated"),
        pl.when(pl.int_range(pl.len()) >= RECORDS - 2)
        .then(7)
        .otherwise(pl.col("isAbduction"))
        .alias("isAbduction"),
    )
    [failure] = failures(audit_release(odd, policy, total_records=RECORDS))
    assert failure.check == "codebook_values"
    assert failure.details == [
        {"column": "typeOfExploitConcatenated", "cells_outside_codebook": 1, "first_rows": "5"},
        {"column": "isAbduction", "cells_outside_codebook": 2, "first_rows": "3999, 4000"},
    ]
    assert "Jane" not in str(failure)


def test_suppression_beyond_the_limit_is_caught(release, policy) -> None:
    assert "suppression" in _failed(release, policy, total=int(release.height / 0.9))
    assert "suppression" in _failed(release, policy, total=release.height - 1)
    unknown = failures(audit_release(release, policy, total_records=None))
    assert [f.check for f in unknown] == ["suppression"]


def test_l_diversity_is_checked_when_the_policy_asks(release, policy) -> None:
    strict = policy.model_copy(update={"l_diversity": LDiversity(l=3, attributes=["isAbduction"])})
    fewest = l_diversity(release, policy.release_qi_columns, "isAbduction")
    if fewest < 3:
        assert "l_diversity" in _failed(release, strict)
    flattened = release.with_columns(pl.lit(0, pl.Int8).alias("isAbduction"))
    assert "l_diversity" in _failed(flattened, strict)


def test_attribute_disclosure_figures_count_homogeneous_known_values(policy) -> None:
    frame = pl.DataFrame(
        {
            "gender": ["Female"] * 11 + ["Male"] * 11 + ["Unknown"] * 11,
            "typeOfExploitConcatenated": ["Forced labour"] * 11
            + ["-99"] * 11
            + ["Forced labour"] * 10
            + ["Sexual exploitation"],
        }
    )
    narrow = policy.model_copy(
        update={
            "quasi_identifiers": {"gender": policy.quasi_identifiers["gender"]},
            "sensitive_attributes": ["typeOfExploitConcatenated"],
        }
    )
    figures = release_figures(frame, narrow, records_total=40)
    assert figures["records_in_homogeneous_classes"] == {"typeOfExploitConcatenated": 11}
    assert figures["equivalence_classes"] == 3 and figures["smallest_class"] == 11
    assert figures["records_published_share"] == round(33 / 40, 4)

"""Acceptance at full scale: the default sample (92,000 deliveries) through the crosswalks.

One slow test: write the sample, harmonize every contributor, anonymize the union,
write the CSV and let pycanon (an independent implementation) recompute k on it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from pycanon import anonymity

from ctdc_assets.anonymize import audit_release, failures, load_policy
from ctdc_assets.anonymize.engine import anonymize
from ctdc_assets.config import PROJECT_ROOT
from ctdc_assets.crosswalk import harmonize, load_crosswalks, read_delivery
from ctdc_assets.sample_data import write_sample


@pytest.mark.slow
def test_default_sample_beats_the_ctdc_method(tmp_path: Path) -> None:
    crosswalks = load_crosswalks(PROJECT_ROOT / "crosswalks")
    deliveries = write_sample(tmp_path / "landing")
    victims = pl.concat(
        [
            harmonize(crosswalks[name], read_delivery(crosswalks[name], path), b"k" * 32).frame
            for name, path in deliveries.items()
        ],
        how="diagonal_relaxed",
    )
    policy = load_policy(PROJECT_ROOT / "release_policy.yaml")

    result = anonymize(victims, policy)

    ours, ctdc = result.figures["ours"], result.figures["ctdc_method"]
    assert ours["records_published_share"] >= 0.95
    assert ours["records_published"] > ctdc["records_published"]
    for column in ("citizenship", "CountryOfExploitation"):
        kept = ours["distinct_countries_at_country_level"][column]
        assert kept > ctdc["distinct_countries_at_country_level"][column]
    path = tmp_path / "victims.csv"
    result.frame.write_csv(path)
    published = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert anonymity.k_anonymity(published, policy.release_qi_columns) >= policy.k
    total = victims.height
    assert not failures(
        audit_release(pl.read_csv(path, infer_schema_length=0), policy, total_records=total)
    )

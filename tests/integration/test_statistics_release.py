"""A published release under the cell-key method: what a user of it can see and check.

Uses the session's one pipeline run on the small sample (conftest `pipeline`).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import polars as pl
import pytest

K = 11


@pytest.fixture(scope="module")
def release(pipeline) -> Path:
    _, outcome = pipeline
    assert outcome.success and outcome.release, outcome.summary()
    return Path(outcome.release)


def test_the_manifest_says_the_method_its_parameters_and_its_cost(release) -> None:
    stats = json.loads((release / "manifest.json").read_text())["statistics"]
    assert stats["method"] == "cell_key"
    assert stats["parameters"] == {"max_deviation": 10, "variance": 4.0, "threshold": K - 1}
    assert stats["ptable"]["max_abs_bias"] < 1e-6
    assert stats["ptable"]["file"] == "statistics/perturbation_table.csv"
    assert stats["figures"]["withheld_share"] == 0
    assert set(stats["figures"]["error_by_band"]) == {"1-10", "11-99", "100+"}


def test_the_ptable_is_published_and_described(release) -> None:
    table = pl.read_csv(release / "statistics" / "perturbation_table.csv")
    published = table["count"] + table["perturbation"]
    assert not ((published >= 1) & (published < K)).any()
    codebook = (release / "codebook.md").read_text()
    assert "## Aggregate statistics" in codebook
    assert "perturbation_table.csv" in codebook and "D = 10" in codebook
    package = json.loads((release / "datapackage.json").read_text())
    assert "statistics/perturbation_table.csv" in {r["path"] for r in package["resources"]}


def test_no_count_is_withheld_or_small_and_no_record_key_is_published(release) -> None:
    for path in (release / "statistics").glob("*.csv"):
        frame = pl.read_csv(path, infer_schema_length=0)
        assert "cell_record_key" not in frame.columns, path.name
        if "suppressed" in frame.columns:
            assert set(frame["suppressed"]) == {"false"}, path.name
            counts = frame["count"].cast(pl.Int64)
            assert counts.min() >= K, path.name
    header = (release / "victims.csv").open().readline()
    assert "cell_record_key" not in header


def test_the_cell_key_secret_is_owner_only_and_outside_the_release(pipeline, release) -> None:
    deployment, _ = pipeline
    secret = deployment.data_dir / "secrets" / "cell_key.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    value = secret.read_text().strip()
    for path in release.rglob("*"):
        if path.is_file():
            assert value not in path.read_text(errors="ignore"), path.name

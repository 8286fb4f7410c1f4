"""Release folders are written whole or not at all, and never over an earlier one."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ctdc_assets.landing import sha256_file
from ctdc_assets.release.bundle import (
    BundleContent,
    ReleaseError,
    formula_cells,
    latest_release,
    write_bundle,
)


def _content(records: pl.DataFrame | None = None) -> BundleContent:
    return BundleContent(
        records=records if records is not None else pl.DataFrame({"gender": ["Female", "Male"]}),
        tables={"by_gender": pl.DataFrame({"gender": ["Female"], "victims": [11]})},
        files={},
        texts={"codebook.md": "# Codebook\n"},
        manifest={"policy": {"k": 11}},
    )


def test_a_release_is_published_with_checksums_and_a_latest_pointer(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path, "r1", _content(), verify=lambda _: [])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["release_id"] == "r1"
    assert set(manifest["files"]) == {
        "victims.csv", "victims.parquet", "codebook.md", "statistics/by_gender.csv",
    }  # fmt: skip
    for name, digest in manifest["files"].items():
        assert sha256_file(folder / name) == digest
    assert latest_release(tmp_path) == folder.resolve()


def test_an_existing_release_is_never_overwritten(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path, "r1", _content(), verify=lambda _: [])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ReleaseError, match="already exists"):
        write_bundle(tmp_path, "r1", _content(), verify=lambda _: [])
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_release_failing_verification_leaves_nothing_behind(tmp_path: Path) -> None:
    good = write_bundle(tmp_path, "r1", _content(), verify=lambda _: [])
    with pytest.raises(ReleaseError, match="k = 3 < 11"):
        write_bundle(tmp_path, "r2", _content(), verify=lambda _: ["k = 3 < 11"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"]
    assert latest_release(tmp_path) == good.resolve()


def test_cells_a_spreadsheet_would_execute_are_refused(tmp_path: Path) -> None:
    records = pl.DataFrame({"gender": ['=HYPERLINK("http://x")', "Male"]})
    with pytest.raises(ReleaseError, match="formula character"):
        write_bundle(tmp_path, "r1", _content(records), verify=lambda _: [])
    assert not any(tmp_path.iterdir())


def test_formula_cells_are_found_in_a_duckdb_relation_too() -> None:
    """The candidate table is checked in DuckDB (not read into memory): same verdict."""
    frame = pl.DataFrame(
        {
            "gender": ["Male", "\tFemale"],
            "citizenship": ["+44", "FR"],
            "age": [-5, 12],
            "note": ["a=b", None],
        }
    )
    con = duckdb.connect()
    relation = con.from_arrow(frame.to_arrow())
    assert formula_cells(relation) == formula_cells(frame) == ["gender", "citizenship"]


def test_the_same_content_is_not_published_twice(tmp_path: Path) -> None:
    first = write_bundle(tmp_path, "r1", _content(), verify=lambda _: [])
    described_again = _content()
    described_again.texts["codebook.md"] = "# Codebook, re-worded\n"  # not the content
    assert write_bundle(tmp_path, "r2", described_again, verify=lambda _: []) == first.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"]
    changed = _content(pl.DataFrame({"gender": ["Female", "Female"]}))
    second = write_bundle(tmp_path, "r3", changed, verify=lambda _: [])
    assert second.name == "r3" and latest_release(tmp_path) == second.resolve()
    manifest = json.loads((second / "manifest.json").read_text())
    assert (
        manifest["content_sha256"]
        != json.loads((first / "manifest.json").read_text())["content_sha256"]
    )

"""The codebook and `datapackage.json` of a published release, read as a data user would.

Every figure is recounted here from `victims.csv` with Polars, independently of the
codebook generator (which counts with DuckDB).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from ctdc_assets.standard import load_standard


@pytest.fixture(scope="module")
def release(pipeline) -> Path:
    _, outcome = pipeline
    assert outcome.success and outcome.release, outcome.summary()
    return Path(outcome.release)


@pytest.fixture(scope="module")
def records(release: Path) -> pl.DataFrame:
    return pl.read_csv(release / "victims.csv", infer_schema=False)


def _sections(codebook: str) -> dict[str, dict[str, tuple[str, int]]]:
    """Column -> code -> (meaning, records), from the codebook's tables."""
    sections: dict[str, dict[str, tuple[str, int]]] = {}
    current: dict[str, tuple[str, int]] = {}
    for line in codebook.splitlines():
        if heading := re.fullmatch(r"### `(.+)`", line):
            current = sections.setdefault(heading.group(1), {})
        elif line.startswith("| `"):
            code, meaning, count, _share = line.strip("| ").split(" | ")
            current[code.strip("`")] = (meaning, int(count))
    return sections


def test_the_codebook_counts_every_code_as_the_csv_holds_it(release, records) -> None:
    sections = _sections((release / "codebook.md").read_text(encoding="utf-8"))
    assert list(sections) == records.columns
    standard = load_standard()
    for column, codes in sections.items():
        counted = dict(records[column].value_counts().iter_rows())
        var = next((v for v in standard.variables if v.name == column), None)
        if var is not None and var.type == "list":
            continue  # counted by label below
        for value, n in counted.items():
            assert codes.get(value, ("", -1))[1] == n, (column, value)
        assert sum(n for _, n in codes.values()) == records.height, column


def test_list_columns_are_counted_by_label(release, records) -> None:
    sections = _sections((release / "codebook.md").read_text(encoding="utf-8"))
    column = "typeOfExploitConcatenated"
    labels = records[column].str.split(";").explode().value_counts()
    for label, n in labels.iter_rows():
        assert sections[column][label][1] == n, label


def test_only_generalized_codes_that_occur_are_listed(release, records) -> None:
    sections = _sections((release / "codebook.md").read_text(encoding="utf-8"))
    for column, codes in sections.items():
        for code, (meaning, n) in codes.items():
            if meaning.startswith("generalized"):
                assert n > 0, (column, code)
                assert code in set(records[column]), (column, code)
    years = sections["yearOfRegistration"]
    assert not any("2031" in code for code in years), "future periods the release never uses"


def test_countries_are_listed_by_code_with_their_name(release, records) -> None:
    sections = _sections((release / "codebook.md").read_text(encoding="utf-8"))
    occurring = set(records["citizenship"]) - {"*", "-99", "00"}
    assert occurring, "the sample release publishes some citizenships"
    for code in occurring:
        meaning, n = sections["citizenship"][code]
        assert meaning and meaning != code and n > 0, code
    assert sections["citizenship"]["US"][0] == "United States"


def test_the_contents_link_to_every_column_with_its_missing_share(release, records) -> None:
    text = (release / "codebook.md").read_text(encoding="utf-8")
    contents = text.split("## Contents", 1)[1].split("## Columns", 1)[0]
    gender_missing = 100 * (records["gender"] == "-99").mean()
    assert f"- [`gender`](#gender): missing {gender_missing:.1f} %" in contents
    page = (release / "codebook.html").read_text(encoding="utf-8")
    for column in records.columns:
        assert f'href="#{column}"' in page and f"id='{column}'" in page, column
    assert "<table>" in page and "<script" not in page


def test_contributors_named_as_suppliers_are_in_the_release(release) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    in_release = {c["contributor"] for c in manifest["contributors"]}
    text = (release / "codebook.md").read_text(encoding="utf-8")
    named = {
        name.strip()
        for line in text.splitlines()
        if line.startswith("- supplied by: ")
        for name in line.removeprefix("- supplied by: ").split(",")
    }
    assert named and named <= in_release, named - in_release


def test_the_datapackage_describes_the_release(release) -> None:
    package = json.loads((release / "datapackage.json").read_text())
    manifest = json.loads((release / "manifest.json").read_text())
    assert package["version"] == manifest["release_id"]
    assert package["created"] == manifest["created_at"]
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    contributors = {c["contributor"] for c in manifest["contributors"]}
    assert {c["title"] for c in package["contributors"] if c["role"] == "contributor"} == (
        contributors
    )
    assert len(package["sources"]) == len(contributors)
    resources = {r["path"]: r for r in package["resources"]}
    victims = resources["victims.csv"]
    assert {"-99", "*"} <= set(victims["schema"]["missingValues"])
    gender = next(f for f in victims["schema"]["fields"] if f["name"] == "gender")
    assert "-99" not in gender["constraints"]["enum"] and "Female" in gender["constraints"]["enum"]
    assert resources["victims.parquet"]["format"] == "parquet"
    statistics = [r for path, r in resources.items() if path.startswith("statistics/")]
    assert statistics and all(r["description"] and r["title"] for r in statistics)
    assert len(statistics) == len(list((release / "statistics").glob("*.csv")))

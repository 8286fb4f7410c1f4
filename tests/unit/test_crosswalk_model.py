"""Crosswalk files: the shipped ones load, and mistakes fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CROSSWALKS

from ctdc_assets.crosswalk import CrosswalkError, load_crosswalk, load_crosswalks
from ctdc_assets.crosswalk.model import ListRule, MapRule

MINIMAL = """\
read: {format: csv}
case_id: id
identifiers: [id]
variables:
  gender:
    map: {column: sex, values: {f: Female}}
"""


def write(tmp_path: Path, text: str, name: str = "partner") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_crosswalks_load_by_file_stem() -> None:
    crosswalks = load_crosswalks(CROSSWALKS)
    assert set(crosswalks) >= {"case_agency", "hotline", "ngo_network", "ctdc_standard"}
    for name, crosswalk in crosswalks.items():
        assert crosswalk.name == name
    assert crosswalks["case_agency"].read.sheet == "Cases*"
    assert "prs_Birthdate" in crosswalks["case_agency"].identifiers
    assert crosswalks["ctdc_standard"].case_id is None
    assert crosswalks["ctdc_standard"].quality.list_consistency == "warning"
    means = crosswalks["hotline"].variables["meansOfControlConcatenated"]
    assert isinstance(means, ListRule) and means.list.unlisted == -99


def test_minimal_crosswalk_and_yaml_scalars_stay_text(tmp_path: Path) -> None:
    text = MINIMAL.replace("{f: Female}", "{f: Female, no: Male, NA: Unknown, 1: Male}")
    crosswalk = load_crosswalk(write(tmp_path, text))
    rule = crosswalk.variables["gender"]
    assert isinstance(rule, MapRule)
    # `no` must not become a boolean, nor `NA` a null: they are source spellings.
    assert rule.map.values == {"f": "Female", "no": "Male", "NA": "Unknown", "1": "Male"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("read:", "raed:"), "raed"),
        (MINIMAL + "  gendre:\n    constant: Male\n", "gendre: not a variable"),
        (MINIMAL + "  gendre:\n    constant: Male\n", "did you mean 'gender'"),
        (MINIMAL.replace("Female}", "Femal}"), "variables.gender.map.values.f: 'Femal'"),
        (MINIMAL.replace("map:", "mapp:"), "unknown rule 'mapp' (did you mean 'map'?)"),
        (MINIMAL.replace("values:", "valuez:"), "variables.gender.map.valuez"),
        (MINIMAL.replace("format: csv", "format: xls"), "read.format"),
        (MINIMAL.replace("identifiers: [id]", "identifiers: []"), "case_id: 'id' must also"),
        (
            MINIMAL + "  ageBroad:\n    age: {birthdate: dob}\n",
            "`birthdate` needs `at`",
        ),
        (
            MINIMAL + "  typeOfSexConcatenated:\n    list: {column: s, values: {x: Porn}}\n",
            "'Porn' is not a label of typeOfSexConcatenated",
        ),
        (
            MINIMAL
            + "  typeOfSexConcatenated:\n    list: {column: s}\n"
            + "  typeOfSexPornography:\n    constant: '1'\n",
            "already produced by the list rule",
        ),
        (MINIMAL + "  gender:\n    constant: Male\n", "duplicate"),
        (MINIMAL + "  citizenship:\n    year: {column: c, date_format: '%Y'}\n", "cannot produce"),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CrosswalkError) as caught:
        load_crosswalk(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_a_broken_file_in_the_folder_fails_the_load(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "good")
    write(tmp_path, "read: [unclosed\n", "broken")
    with pytest.raises(CrosswalkError, match=r"broken\.yaml"):
        load_crosswalks(tmp_path)


def test_readme_documents_every_key() -> None:
    """A data engineer can find every key of the schema in crosswalks/README.md."""
    from pydantic import BaseModel

    from ctdc_assets.crosswalk.model import RULE_KINDS, Crosswalk

    readme = (CROSSWALKS / "README.md").read_text(encoding="utf-8")
    seen: set[type[BaseModel]] = set()
    missing: list[str] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key != "name" and f"`{key}`" not in readme and f"{key}:" not in readme:
                missing.append(f"{model.__name__}.{key}")
            for sub in _models_in(info.annotation):
                walk(sub)

    def _models_in(annotation: object) -> list[type[BaseModel]]:
        from typing import get_args

        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in get_args(annotation) for m in _models_in(arg)]

    walk(Crosswalk)
    for rule in RULE_KINDS.values():
        walk(rule)
    assert not missing, missing
    for kind in RULE_KINDS:
        assert f"### `{kind}`" in readme, kind

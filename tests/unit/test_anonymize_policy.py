"""The release policy, the generalization hierarchies and what they add to the codebook."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ctdc_assets.anonymize import PolicyError, codebook_extension, load_policy, release_values
from ctdc_assets.anonymize.hierarchies import build_hierarchies
from ctdc_assets.config import PROJECT_ROOT
from ctdc_assets.regions import un_regions
from ctdc_assets.standard import load_standard

POLICY_FILE = PROJECT_ROOT / "release_policy.yaml"


def _write(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_default_policy_is_the_ctdc_k_with_every_standard_quasi_identifier(policy) -> None:
    assert policy.k == 11
    assert policy.suppression_limit == 0.05
    assert policy.statistics.method == "cell_key"
    assert (policy.statistics.max_deviation, policy.statistics.variance) == (10, 4)
    assert set(load_standard().quasi_identifiers) <= set(policy.qi_names)
    assert policy.release_qi_columns[-4:] == [
        "citizenshipSubregion",
        "citizenshipRegion",
        "CountryOfExploitationSubregion",
        "CountryOfExploitationRegion",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["quasi_identifiers"].pop("gender"), "omits gender"),
        (lambda d: d["quasi_identifiers"].update(nickname={}), "nickname: not a published"),
        (
            lambda d: d["quasi_identifiers"]["ageBroad"]["levels"][0].update(cuts=[20]),
            "split the band",
        ),
        (lambda d: d.update(k=1), "k"),
        (
            lambda d: d.update(l_diversity={"l": 2, "attributes": ["gender"]}),
            "also a quasi-identifier",
        ),
        (lambda d: d["statistics"].update(max_deviation=5), "at least k - 1 = 10"),
        (lambda d: d["statistics"].update(method="rounding"), "statistics.method"),
    ],
)
def test_an_invalid_policy_fails_at_load_time(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy = load_policy(_write(tmp_path, change))
        build_hierarchies(policy)


def test_every_original_value_has_a_place_on_every_level(policy, hierarchies) -> None:
    standard = load_standard()
    for name, hierarchy in hierarchies.items():
        assert set(hierarchy.leaves) == standard.allowed_values(name)
        assert hierarchy.table.shape == (hierarchy.height + 1, len(hierarchy.leaves))
        top = {hierarchy.outputs[code] for code in hierarchy.table[-1]}
        assert top == {(policy.suppressed_value,) * len(hierarchy.columns)}
        for level in range(hierarchy.height):  # missing stays missing below the top
            missing = hierarchy.leaves.index(standard.missing_code)
            assert hierarchy.outputs[hierarchy.table[level, missing]][0] == "-99"


def test_age_and_year_generalize_to_readable_intervals(hierarchies) -> None:
    age = hierarchies["ageBroad"]
    assert age.level_names == ("original", "wide band", "minor or adult", "suppressed")
    by_code = {g.code: g.covers for g in age.generalized}
    assert by_code["18--23"] == ("18--20", "21--23")
    assert by_code["0--17"] == ("0--8", "9--17")
    assert set(by_code["18+"]) == {"18--20", "21--23", "24--26", "27--29", "30--38"} | {
        "39--47",
        "48+",
    }
    year = hierarchies["yearOfRegistration"]
    codes = {g.code for g in year.generalized}
    assert {"2016--2017", "2016--2019"} <= codes


def test_countries_generalize_into_the_region_columns(policy, hierarchies) -> None:
    citizenship = hierarchies["citizenship"]
    assert citizenship.columns == ("citizenship", "citizenshipSubregion", "citizenshipRegion")
    philippines = citizenship.leaves.index("PH")
    outputs = [citizenship.outputs[c] for c in citizenship.table[:, philippines]]
    assert outputs == [
        ("PH", "South-eastern Asia", "Asia"),
        ("*", "South-eastern Asia", "Asia"),
        ("*", "*", "Asia"),
        ("*", "*", "*"),
    ]
    unknown = citizenship.leaves.index("00")
    assert citizenship.outputs[citizenship.table[2, unknown]] == ("00", "00", "00")
    assert un_regions()["NA"] == ("Southern Africa", "Africa")  # Namibia, never null


def test_the_codebook_extension_documents_every_generalized_form(policy, hierarchies) -> None:
    extension = codebook_extension(policy, hierarchies=hierarchies)
    assert extension.suppressed_value == "*"
    assert [r.name for r in extension.region_columns] == policy.release_qi_columns[-4:]
    region = extension.region_columns[1]
    assert {"Asia", "Americas", "00", "-99", "*"} <= {v.code for v in region.values}
    ages = {g.code for g in extension.generalized_values["ageBroad"]}
    assert ages == {"18--23", "24--29", "30--47", "0--17", "18+"}
    values = release_values(policy, hierarchies=hierarchies)
    assert list(values) == policy.release_columns()
    assert {"0--17", "18+", "*", "-99", "30--38"} <= values["ageBroad"]
    assert values["typeOfExploitConcatenated"] is None  # a list: checked label by label
    assert extension.as_dict()["k"] == 11

"""Onboarding a contributor as a new engineer would, in a format no sample contributor uses.

A shelter sends a semicolon-separated Latin-1 CSV with French headers and labels.
`ctdc contributor new` drafts the crosswalk and the raw suite; after editing only the
value maps, `ctdc contributor check` passes and a full run publishes its records.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from conftest import SMALL_SAMPLE, Deployment

from ctdc_assets.cli import main
from ctdc_assets.config import Settings
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import write_sample

HEADER = [
    "Référence", "Nom complet", "Téléphone", "Consentement", "Date d'arrivée", "Sexe", "Âge",
    "Nationalité", "Formes d'exploitation",
]  # fmt: skip
FIRST = ["Zoé", "Léa", "Ana", "Marie", "Inès", "Chloé", "Amina", "Fatou", "Lucie", "Sarah"]
LAST = ["Dupont", "Martin", "Diallo", "Traoré", "Benali", "Moreau", "Petit", "Ndiaye"]
VALUE_MAPS = {  # what the engineer writes in place of each `values: {}`, in file order
    "Sexe": "{femme: Female, f: Female, homme: Male, h: Male}",
    "Formes d'exploitation": (
        "{travail: Forced labour, sexe: Sexual exploitation, mariage: Forced marriage, "
        "mendicité: Forced labour}"
    ),
}


def write_shelter_delivery(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    lines = [";".join(HEADER)]
    for i in range(rows):
        phone = " ".join(str(rng.randint(10, 99)) for _ in range(4))
        lines.append(
            ";".join(
                [
                    f"S{i:04d}",
                    f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    f"+33 6 {phone}",
                    rng.choice(["oui", "oui", "oui", "non"]),
                    f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2018, 2024)}",
                    rng.choice(["femme", "femme", "homme", "F", "H"]),
                    str(rng.randint(12, 60)),
                    rng.choice(["Sénégal", "Côte d'Ivoire", "France", "Mali", "Maroc"]),
                    rng.choice(["travail", "sexe", "travail,mariage", "mendicité", "sexe,travail"]),
                ]
            )
        )
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


def _edit_value_maps(crosswalk: Path) -> None:
    """Only the value maps change: each `values: {}` under a column gets its mapping."""
    lines = crosswalk.read_text(encoding="utf-8").splitlines()
    column = None
    for i, line in enumerate(lines):
        if line.strip().startswith("column: "):
            column = json.loads(line.split("column: ", 1)[1])
        if line.strip() == "values: {}":
            lines[i] = line.replace("{}", VALUE_MAPS[column])
    crosswalk.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def shelter(deployment: Deployment, tmp_path: Path) -> Path:
    delivery = tmp_path / "registre_2024.csv"
    write_shelter_delivery(delivery, rows=300)
    return delivery


def test_a_new_contributor_in_its_own_format_is_onboarded(
    deployment: Deployment, shelter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env()
    assert main(["contributor", "new", "shelter", "--delivery", str(shelter)]) == 0
    crosswalk = settings.crosswalks_dir / "shelter.yaml"
    draft = yaml.safe_load(crosswalk.read_text(encoding="utf-8"))
    assert draft["read"] == {"format": "csv", "encoding": "cp1252", "delimiter": ";"}
    assert draft["case_id"] == "Référence"
    assert {"Référence", "Nom complet", "Téléphone"} <= set(draft["identifiers"])
    assert draft["filters"]["consent"] == {"column": "Consentement", "accepted": ["oui"]}
    assert set(draft["variables"]) >= {
        "gender", "ageBroad", "majorityStatus", "yearOfRegistration", "citizenship",
        "typeOfExploitConcatenated",
    }  # fmt: skip
    text = crosswalk.read_text(encoding="utf-8")
    assert "femme (" in text and "Zoé" not in text and "+33" not in text
    suite = json.loads((settings.expectations_dir / "raw" / "shelter.json").read_text())
    assert set(suite["meta"]["ctdc"]["personal_columns"]) == set(draft["identifiers"])
    assert main(["contributor", "new", "shelter", "--delivery", str(shelter)]) == 1  # no clobber

    capsys.readouterr()
    assert main(["contributor", "check", "shelter", "--delivery", str(shelter)]) == 1
    out = capsys.readouterr().out
    assert "gender <- Sexe: 'femme'" in out and "Check FAILED" in out

    _edit_value_maps(crosswalk)
    assert main(["contributor", "check", "shelter", "--delivery", str(shelter)]) == 0
    out = capsys.readouterr().out
    assert "Check passed." in out and "unmapped values" not in out
    assert not (settings.data_dir / "warehouse.duckdb").exists()  # the check wrote nothing

    write_sample(settings.landing_dir, records=SMALL_SAMPLE, seed=3)
    (settings.landing_dir / "shelter").mkdir()
    (settings.landing_dir / "shelter" / shelter.name).write_bytes(shelter.read_bytes())
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.summary()
    manifest = json.loads((Path(outcome.release) / "manifest.json").read_text())
    shelter_rows = [c for c in manifest["contributors"] if c["contributor"] == "shelter"]
    assert shelter_rows and shelter_rows[0]["records"] > 150

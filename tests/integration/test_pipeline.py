"""The whole pipeline on a small sample, as `make run` does it: what a user gets.

One run (the session fixture `pipeline`) on three contributors' sample deliveries,
with the real instance, warehouse and release folder; each test reads its results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from ctdc_assets.assets.resources import Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.runner import run_pipeline
from ctdc_assets.sample_data import CANARY_PREFIX
from ctdc_assets.standard import load_standard

CONTRIBUTORS = ("case_agency", "hotline", "ngo_network")


@pytest.fixture(scope="module")
def run(pipeline):
    deployment, outcome = pipeline
    assert outcome.success, outcome.summary()
    return deployment, outcome


@pytest.fixture(scope="module")
def tables(run) -> dict[str, pl.DataFrame]:
    """Every table in the warehouse, by `schema.name`."""
    warehouse = Warehouse.from_settings(Settings.from_env())
    with warehouse.connection(read_only=True) as con:
        names = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_catalog = 'warehouse'"
        ).fetchall()
        return {name: con.execute(f"SELECT * FROM {_quoted(name)}").pl() for (name,) in names}


def _quoted(name: str) -> str:
    schema, table = name.split(".", 1)
    return f'{schema}."{table}"'


def _release(run) -> Path:
    _, outcome = run
    assert outcome.release
    return Path(outcome.release)


def test_every_layer_is_in_the_warehouse(tables) -> None:
    for contributor in CONTRIBUTORS:
        assert tables[f"raw.{contributor}"].height > 0
        assert tables[f"harmonized.{contributor}"].height > 0
    assert "merged.victims" in tables and "release.candidate" in tables


def test_counts_reconcile_per_contributor_and_appear_in_metadata(run, tables) -> None:
    with dg.DagsterInstance.get() as instance:
        for contributor in CONTRIBUTORS:
            event = instance.get_latest_materialization_event(
                dg.AssetKey(["harmonized", contributor])
            )
            meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
            delivered = meta["count_delivered"]
            assert delivered == tables[f"raw.{contributor}"].height
            expected = (
                delivered
                - meta["count_no_consent"]
                - meta["count_out_of_scope"]
                - meta["count_duplicates"]
            )
            assert (
                expected == meta["count_harmonized"] == tables[f"harmonized.{contributor}"].height
            )
            assert "harmonized" in meta["reconciliation"]
    merged = tables["merged.victims"]
    assert merged.height == sum(tables[f"harmonized.{c}"].height for c in CONTRIBUTORS)
    assert merged["record_key"].n_unique() == merged.height


def test_harmonized_values_are_all_in_the_standard(tables) -> None:
    standard = load_standard()
    for contributor in CONTRIBUTORS:
        frame = tables[f"harmonized.{contributor}"]
        assert frame.columns[:63] == standard.columns
        for var in standard.variables:
            values = set(frame[var.name].cast(pl.String).unique().to_list())
            if var.type == "list":
                labels = set(standard.list_labels(var.name)) | {standard.missing_code}
                separator = var.separator or ";"
                used = {label for v in values for label in v.split(separator)}
                assert used <= labels, (contributor, var.name, used - labels)
            else:
                assert values <= standard.allowed_values(var.name), (contributor, var.name)


def test_identifiers_never_leave_the_raw_layer(run, tables) -> None:
    deployment, _ = run
    planted = sum(
        frame.select(pl.any_horizontal(pl.all().cast(pl.String).str.contains(CANARY_PREFIX)))
        .to_series()
        .sum()
        for name, frame in tables.items()
        if name.startswith("raw.")
    )
    assert planted > 0, "the sample must plant canaries in the raw layer"
    for name, frame in tables.items():
        if name.startswith("raw."):
            continue
        text = frame.select(pl.all().cast(pl.String))
        hits = text.select(pl.any_horizontal(pl.all().str.contains(CANARY_PREFIX))).to_series()
        assert hits.sum() == 0, f"identifier value found in {name}"
        assert not {"case_id", "victim_name", "prs_FirstName", "narrative"} & set(frame.columns)
    for path in (deployment.data_dir / "releases").rglob("*"):
        if path.is_file():
            assert CANARY_PREFIX.encode() not in path.read_bytes(), path
    for path in (deployment.data_dir / "dagster_home").rglob("*"):
        if path.is_file():  # run logs and metadata shown in the UI
            assert CANARY_PREFIX.encode() not in path.read_bytes(), path


def test_the_release_folder_is_complete_and_verifies(run) -> None:
    release = _release(run)
    for name in (
        "victims.csv", "victims.parquet", "codebook.md", "codebook.html",
        "datapackage.json", "manifest.json", "quality_report.md", "dashboard.html",
    ):  # fmt: skip
        assert (release / name).is_file(), name
    assert any((release / "statistics").glob("*.csv"))
    assert (release.parent / "latest").resolve() == release.resolve()
    verify = subprocess.run(
        [sys.executable, "-m", "ctdc_assets.cli", "verify", str(release)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_published_csv_is_k_anonymous_by_an_independent_library(run) -> None:
    from pycanon import anonymity

    release = _release(run)
    manifest = json.loads((release / "manifest.json").read_text())
    records = pl.read_csv(release / "victims.csv", infer_schema=False).to_pandas()
    k = anonymity.k_anonymity(records, manifest["quasi_identifiers"])
    assert k >= manifest["policy"]["k"] == 11


def test_datapackage_is_valid_frictionless(run) -> None:
    from frictionless import Package, validate

    release = _release(run)
    report = validate(release / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]
    assert Package(release / "datapackage.json").get_resource("victims").schema.field_names


def test_tampering_with_a_published_release_fails_verification(run, tmp_path: Path) -> None:
    import shutil

    from ctdc_assets.release.verify import verify_release

    release = _release(run)
    edited = tmp_path / "edited"
    shutil.copytree(release, edited)
    lines = (edited / "victims.csv").read_text().splitlines()
    lines[5] = lines[4]  # one row changed
    (edited / "victims.csv").write_text("\n".join(lines) + "\n")
    problems = verify_release(edited, policy_file=Settings.from_env().policy_file)
    changed = "victims.csv: content differs from its signed checksum"
    assert any(changed in p for p in problems), problems

    lowered = tmp_path / "lowered"
    shutil.copytree(release, lowered)
    manifest = json.loads((lowered / "manifest.json").read_text())
    manifest["policy"]["k"] = 2
    (lowered / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_release(lowered, policy_file=Settings.from_env().policy_file)
    assert any("below the policy's k = 11" in p for p in problems), problems
    assert any("datapackage.json states k = 11" in p for p in problems), problems


def test_make_ui_can_read_the_run_history(run) -> None:
    _, outcome = run
    with dg.DagsterInstance.get() as instance:
        record = instance.get_run_record_by_id(outcome.run_id)
        assert record is not None and record.dagster_run.is_success
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(["release", "candidate"]), "release_gate")]
        )
        assert all(c.status.value == "SUCCEEDED" for c in checks.values()) and checks


def test_the_warehouse_file_leaks_nothing(run) -> None:
    settings = Settings.from_env()
    assert CANARY_PREFIX.encode() not in settings.warehouse_file.read_bytes()
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(settings.warehouse_file), read_only=True)


def test_a_second_run_on_the_same_deliveries_publishes_nothing(run) -> None:
    deployment, first = run
    releases = sorted(p.name for p in (deployment.data_dir / "releases").iterdir())
    again = run_pipeline(Settings.from_env())
    assert again.success, again.summary()
    assert again.release_unchanged and Path(again.release).name == Path(first.release).name
    assert "Nothing to publish" in again.summary()
    assert sorted(p.name for p in (deployment.data_dir / "releases").iterdir()) == releases

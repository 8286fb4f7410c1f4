"""Suites on real shapes: samples pass, planted defects are caught with the right severity."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import REFERENCE_SAMPLE

from ctdc_assets.crosswalk import Harmonized, harmonize, load_crosswalks, read_delivery
from ctdc_assets.findings import gate_findings
from ctdc_assets.quality.gates import run_harmonized_gate, run_merged_gate, run_raw_gate
from ctdc_assets.quality.results import GateResult
from ctdc_assets.quality.suite_model import load_suite
from ctdc_assets.quality.suites import EXPECTATIONS_DIR, GENERATED_SUITES, suite_json
from ctdc_assets.sample_data import write_sample
from ctdc_assets.standard import CELL_RECORD_KEY, load_standard

REFERENCE = REFERENCE_SAMPLE
PROJECT = Path(__file__).resolve().parents[2]
KEY = b"k" * 32


@pytest.fixture(scope="module")
def crosswalks() -> dict:
    return load_crosswalks(PROJECT / "crosswalks")


@pytest.fixture(scope="module")
def raws(tmp_path_factory: pytest.TempPathFactory, crosswalks: dict) -> dict[str, pl.DataFrame]:
    files = write_sample(tmp_path_factory.mktemp("landing"), records=300, seed=5)
    out = {name: read_delivery(crosswalks[name], path) for name, path in files.items()}
    if REFERENCE.exists():
        out["ctdc_standard"] = read_delivery(crosswalks["ctdc_standard"], REFERENCE)
    return out


@pytest.fixture(scope="module")
def harmonized(raws: dict[str, pl.DataFrame], crosswalks: dict) -> dict[str, Harmonized]:
    return {name: harmonize(crosswalks[name], raw, KEY) for name, raw in raws.items()}


def gate(harmonized: Harmonized, crosswalk, frame: pl.DataFrame | None = None) -> GateResult:
    return run_harmonized_gate(
        harmonized.frame if frame is None else frame,
        contributor=crosswalk.name,
        unmapped=harmonized.unmapped,
        crosswalk=crosswalk,
    )


def failed_ids(result: GateResult) -> dict[str, str]:
    return {o.id: o.severity for o in result.critical_failures + result.warnings}


# --------------------------------------------------------------------------- suites as files


def merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Harmonized tables as merged/victims holds them: with each record's cell key."""
    merged = pl.concat(frames)
    return merged.with_columns(pl.int_range(merged.height, dtype=pl.Int64).alias(CELL_RECORD_KEY))


@pytest.mark.parametrize("name", sorted(GENERATED_SUITES))
def test_committed_generated_suites_equal_the_standard(name: str) -> None:
    committed = (EXPECTATIONS_DIR / name).read_text(encoding="utf-8")
    assert committed == suite_json(GENERATED_SUITES[name]()), (
        f"expectations/{name} is stale: run `python -m ctdc_assets.quality.suites`"
    )


def test_every_suite_file_loads_and_says_its_severities() -> None:
    files = sorted(EXPECTATIONS_DIR.rglob("*.json"))
    assert {f.relative_to(EXPECTATIONS_DIR).as_posix() for f in files} >= {
        "raw/case_agency.json",
        "raw/hotline.json",
        "raw/ngo_network.json",
        "raw/ctdc_standard.json",
        "harmonized.json",
        "merged.json",
    }
    for path in files:
        suite = load_suite(path)
        severities = {e.severity for e in suite.expectations}
        assert "critical" in severities, path
        raw = json.loads(path.read_text())
        assert len(suite.expectations) == len(raw["expectations"]), path


def test_harmonized_suite_follows_the_standard() -> None:
    std = load_standard()
    suite = json.loads((EXPECTATIONS_DIR / "harmonized.json").read_text())
    columns = next(e for e in suite["expectations"] if e["meta"]["id"] == "table.columns")
    assert columns["kwargs"]["column_set"] == std.columns + std.internal_columns
    gender = next(e for e in suite["expectations"] if e["meta"]["id"] == "gender.in_set")
    assert set(gender["kwargs"]["value_set"]) == std.allowed_values("gender")


# --------------------------------------------------------------------------- good data passes


def test_raw_suites_pass_on_sample_deliveries(raws: dict, crosswalks: dict) -> None:
    for name, raw in raws.items():
        result = run_raw_gate(
            raw,
            contributor=name,
            personal_columns=crosswalks[name].identifiers,
            previous_row_count=raw.height,
        )
        assert result.passed, result.summary()
        assert not result.skipped
        # only the expected dirt: re-sent case ids (and impossible ages)
        assert set(failed_ids(result)) <= {
            f"{crosswalks[name].case_id}.unique",
            "person.age_at_intake.format",
        }, result.failures_markdown()


def test_harmonized_suite_passes_on_harmonized_samples(harmonized: dict, crosswalks: dict) -> None:
    for name, h in harmonized.items():
        result = gate(h, crosswalks[name])
        assert result.passed, result.summary() + "\n" + result.failures_markdown()
        if name != "ctdc_standard":
            assert_only_unmapped_warns(result, h)


def assert_only_unmapped_warns(result: GateResult, harmonized: Harmonized) -> None:
    """No warning but the one every unmapped value gives, and that one iff any."""
    warned = {o.id for o in result.warnings}
    assert warned <= {"unmapped.any"}, result.failures_markdown()
    assert ("unmapped.any" in warned) == (harmonized.unmapped.height > 0)


def test_a_one_row_typo_is_a_warning_naming_its_variable(
    harmonized: dict, crosswalks: dict
) -> None:
    """`Mle` in one hotline row: far below the share limit, still never silent."""
    h, cw = harmonized["hotline"], crosswalks["hotline"]
    typo = pl.DataFrame(
        {
            "variable": ["gender"],
            "source_column": ["victim_gender"],
            "source_value": ["Mle"],
            "rows": [1],
            "first_rows": ["17"],
        }
    )
    result = run_harmonized_gate(
        h.frame, contributor="hotline", unmapped=pl.concat([h.unmapped, typo]), crosswalk=cw
    )
    assert result.passed
    (warning,) = [o for o in result.warnings if o.id == "unmapped.any"]
    assert "gender" in warning.rows
    check = result.to_check_result()
    assert check.severity.value == "WARN"
    # The check's table and the report name column, rows and first row; the value only
    # by its shape (the text itself: `ctdc findings`, the terminal).
    listed = check.metadata["unmapped_values"].value
    (line,) = [row for row in listed.splitlines() if "victim_gender" in row]
    assert "| 1 " in line and "| 17 " in line and "<redacted: 3 chars, letters>" in line
    assert line in result.to_markdown()
    for shown in (result.summary(), listed, result.to_markdown()):
        assert "Mle" not in shown


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference sample not available")
def test_published_data_inconsistent_lists_are_warnings(harmonized: dict, crosswalks: dict) -> None:
    result = gate(harmonized["ctdc_standard"], crosswalks["ctdc_standard"])
    warned = {o.columns[0]: o.unexpected for o in result.warnings}
    assert warned.get("meansOfControlConcatenated", 0) > 100
    assert result.to_check_result().passed


def test_merged_suite_passes_and_reconciles(harmonized: dict) -> None:
    merged = merge([h.frame for h in harmonized.values()])
    counts = {name: h.frame.height for name, h in harmonized.items()}
    result = run_merged_gate(merged, harmonized_counts=counts)
    assert result.passed and not result.warnings, result.failures_markdown()
    chunked = run_merged_gate(merged.lazy(), harmonized_counts=counts, chunk_rows=97)
    assert chunked.passed, chunked.failures_markdown()  # counts are whole-table, not per chunk


# --------------------------------------------------------------------------- defects are caught


def test_harmonized_catches_planted_defects(harmonized: dict, crosswalks: dict) -> None:
    h, cw = harmonized["case_agency"], crosswalks["case_agency"]
    frame = h.frame.with_row_index("i").with_columns(
        gender=pl.when(pl.col("i") == 3).then(pl.lit("Femme")).otherwise("gender"),
        isAbduction=pl.when(pl.col("i") == 4).then(pl.lit(2, pl.Int8)).otherwise("isAbduction"),
        meansOfControlConcatenated=pl.when(pl.col("i") == 5)
        .then(pl.lit("Debt bondage; Threats"))
        .otherwise("meansOfControlConcatenated"),
        typeOfSexConcatenated=pl.when(pl.col("i") == 6)
        .then(pl.lit("Prostitution;Tourism"))
        .otherwise("typeOfSexConcatenated"),
        ageBroad=pl.when(pl.col("i") == 7).then(pl.lit("9--17")).otherwise("ageBroad"),
        majorityStatus=pl.when(pl.col("i") == 7).then(pl.lit("Adult")).otherwise("majorityStatus"),
        citizenship=pl.when(pl.col("i") == 8).then(None).otherwise("citizenship"),
    )
    result = gate(h, cw, frame.drop("i"))
    failed = {o.id: o for o in result.critical_failures}
    assert failed["gender.in_set"].rows == (4,)
    assert failed["gender.in_set"].samples == ("<redacted: 5 chars, letters> (1)",)
    assert failed["gender.in_set"].found == (("Femme", 1, "4"),)  # for audit.findings
    assert failed["flags.in_set"].columns == ("isAbduction",)
    assert failed["flags.in_set"].samples == ("isAbduction=2 (1)",)
    assert failed["meansOfControlConcatenated.consistent_with_flags"].rows == (6,)
    # a label outside the standard is delivered text: its shape only, the value for the engineer
    assert failed["typeOfSexConcatenated.known_labels"].samples == (
        "<redacted: 7 chars, letters> (1)",
    )
    assert failed["typeOfSexConcatenated.known_labels"].found[0][0] == "Tourism"
    assert failed["majorityStatus.consistent_with_ageBroad"].rows == (8,)
    assert failed["table.no_nulls"].columns == ("citizenship",)
    message = result.to_check_result().description or ""
    assert message.startswith("harmonized/case_agency gate failed: column ")
    # What `ctdc findings` lists: every failing value with its column and rows (a flag out
    # of its set used to make recording the findings raise instead).
    found = gate_findings(result)
    values = {value: (rows, at) for _, _, value, rows, at in found.iter_rows()}
    assert values["isAbduction=2"] == (1, "5")
    assert values["Femme"] == (1, "4")


def test_list_consistency_is_a_warning_where_the_crosswalk_says_so(
    harmonized: dict, crosswalks: dict
) -> None:
    h, cw = harmonized["hotline"], crosswalks["hotline"]
    frame = h.frame.with_columns(
        meansOfControlConcatenated=pl.lit("Threats"), meansOfControlThreats=pl.lit(0, pl.Int8)
    )
    assert not gate(h, cw, frame).passed
    relaxed = cw.model_copy(
        update={"quality": cw.quality.model_copy(update={"list_consistency": "warning"})}
    )
    result = gate(h, relaxed, frame)
    assert result.passed
    failed = {k: v for k, v in failed_ids(result).items() if k != "unmapped.any"}
    assert failed == {"meansOfControlConcatenated.consistent_with_flags": "warning"}


def test_identifier_column_and_unmapped_share_block(harmonized: dict, crosswalks: dict) -> None:
    h, cw = harmonized["hotline"], crosswalks["hotline"]
    leaked = h.frame.with_columns(victim_name=pl.lit("CANARY-x"))
    result = gate(h, cw, leaked)
    columns = next(o for o in result.critical_failures if o.id == "table.columns")
    assert "victim_name" in (columns.observed or "")
    assert "CANARY" not in json.dumps(result.to_dict())
    strict = cw.model_copy(
        update={"quality": cw.quality.model_copy(update={"max_unmapped_share_by_variable": {}})}
    )
    result = gate(h, strict)
    shares = next(o for o in result.critical_failures if o.id == "unmapped.share")
    assert shares.rows == ("ageBroad",)
    assert result.summary().startswith(
        "harmonized/hotline gate failed: column ageBroad: has more unmapped source values"
    )
    assert "(allowed_rows=5, rows=" in result.summary()


def test_merged_catches_duplicates_leaks_and_lost_rows(harmonized: dict) -> None:
    merged = merge([harmonized[n].frame for n in ("case_agency", "hotline", "ngo_network")])
    counts = {n: harmonized[n].frame.height for n in ("case_agency", "hotline", "ngo_network")}
    bad = (
        pl.concat([merged, merged.head(2)])
        .with_row_index("i")
        .with_columns(
            gender=pl.when(pl.col("i") == 10).then(pl.lit("maria@example.org")).otherwise("gender"),
            RecruiterRelationship=pl.when(pl.col("i") == 12)
            .then(pl.lit("Friend/Acquaintance; call +1 415 555 0199"))
            .otherwise("RecruiterRelationship"),
        )
    )
    result = run_merged_gate(bad.drop("i"), harmonized_counts=counts | {"ngo_network": 1})
    failed = {o.id: o for o in result.critical_failures}
    assert failed["record_key.unique"].unexpected == 4
    assert failed["gender.in_set"].rows == (11,)
    assert failed["RecruiterRelationship.no_identifiers"].rows == (13,)
    assert failed["contributor.counts_reconcile"].unexpected > 0
    shown = json.dumps(result.to_dict()) + str(result.to_check_result().metadata)
    assert "maria" not in shown and "555" not in shown
    lost = run_merged_gate(merged, harmonized_counts=counts | {"ctdc_standard": 5})
    assert {o.id for o in lost.critical_failures} == {"contributor.all_present"}


@pytest.mark.slow
def test_all_gates_at_full_sample_scale(tmp_path: Path, crosswalks: dict) -> None:
    """~92,000 records, as `ctdc run` writes them: every gate passes, with no warning
    after harmonization but the unmapped values' (speed is the benchmark's business,
    `make bench`)."""
    files = write_sample(tmp_path, records=92_000)
    harmonized_counts = {}
    frames = []
    for name, path in files.items():
        raw = read_delivery(crosswalks[name], path)
        result = run_raw_gate(raw, contributor=name, personal_columns=crosswalks[name].identifiers)
        assert result.passed, result.summary()
        h = harmonize(crosswalks[name], raw, KEY)
        result = gate(h, crosswalks[name])
        assert result.passed, result.failures_markdown()
        assert_only_unmapped_warns(result, h)
        harmonized_counts[name] = h.frame.height
        frames.append(h.frame)
    result = run_merged_gate(merge(frames), harmonized_counts=harmonized_counts)
    assert result.passed, result.failures_markdown()

"""The quality report, from gate results or from a Dagster instance's check evaluations."""

from __future__ import annotations

import dagster as dg
import polars as pl

from ctdc_assets.quality.evaluate import run_suite
from ctdc_assets.quality.report import latest_check_evaluations, quality_report

SUITE = {
    "name": "raw/demo",
    "expectations": [
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "case_id"},
            "severity": "warning",
            "description": "case id delivered more than once (the latest is kept)",
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "gender", "value_set": ["F", "M"]},
            "severity": "critical",
            "description": "not F or M",
        },
    ],
}


def frame(bad: bool = False) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case_id": ["a", "b", "b", "c"],
            "gender": ["F", "M", "X" if bad else "F", "M"],
            "name": ["Ann Lee", "Bo Ray", "Bo Ray", "Cy Ko"],
            "source_row": [2, 3, 4, 5],
        }
    )


def test_report_lists_gates_results_counts_and_warnings() -> None:
    good = run_suite(SUITE, frame(), gate="raw/demo", personal_columns=["case_id"])
    good.notes.append(
        "ageBroad: 12 of 4 rows (3.0%) had a source value the crosswalk could not map"
    )
    generic = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["release", "candidate"]),
        check_name="release_gate",
        passed=True,
        metadata={
            "k": dg.MetadataValue.int(11),
            "gates": dg.MetadataValue.md("| a |\n|---|\n| b |"),
        },
        severity=dg.AssetCheckSeverity.ERROR,
        description="release/candidate gate passed: k=11",
    )
    text = quality_report([good, generic], release_id="2026-11-24T00-00")
    assert text.startswith("# Quality report of release 2026-11-24T00-00")
    assert "All 2 gates passed, with 1 warning(s)" in text
    assert "| raw/demo | passed with warnings | 4 | 2 | 0 | 1 |" in text
    assert "| release/candidate (release_gate) | passed |" in text
    assert "## Limitations" in text and "case id delivered more than once" in text
    assert "ageBroad: 12 of 4 rows" in text
    assert "k: 11" in text and "| b |" in text
    assert "Ann Lee" not in text and "Bo Ray" not in text
    assert "`b (2)`" not in text  # case ids are personal here: counts only


def test_report_from_a_dagster_instance_after_a_blocked_run() -> None:
    @dg.asset
    def raw_demo() -> pl.DataFrame:
        return frame(bad=True)

    @dg.asset_check(asset=raw_demo, blocking=True)
    def raw_gate(raw_demo: pl.DataFrame) -> dg.AssetCheckResult:
        return run_suite(SUITE, raw_demo, gate="raw/demo", source_file="demo.csv").to_check_result()

    @dg.asset(deps=[raw_demo])
    def harmonized_demo() -> None:
        return None

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [raw_demo, raw_gate, harmonized_demo], instance=instance, raise_on_error=False
    )
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_demo"}  # the blocking gate stopped harmonized_demo
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.description.startswith(
        "raw/demo gate failed: column gender: 1 row (25.0%) not F or M, e.g. row 4 of demo.csv"
    )
    evaluations = latest_check_evaluations(instance, [raw_gate.check_key])
    text = quality_report(evaluations)
    assert "**1 of 1 gates failed.**" in text
    assert "| raw/demo | FAILED | 4 | 2 | 1 | 1 |" in text
    # "X" is no value of the standard: the report says what it looks like, not what it is
    row = "| critical | gender | not F or M | 1 | 25.0% | `<redacted: 1 char, letters> (1)` | 4 |"
    assert row in text

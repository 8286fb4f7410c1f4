"""The GX bridge: a suite JSON run on a small table, as a data engineer sees the result."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from ctdc_assets.quality.evaluate import run_suite
from ctdc_assets.quality.results import GateResult
from ctdc_assets.quality.suite_model import SuiteError, load_suite


def exp(type_: str, severity: str = "critical", description: str = "", **kwargs: Any) -> dict:
    return {"type": type_, "kwargs": kwargs, "severity": severity, "description": description}


SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def hotline_like() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case_id": ["HL-1", "HL-2", "HL-2", "HL-4", "HL-5", "HL-6"],
            "report_date": ["01/02/2020", "13/45/2020", "03/04/1985", None, "05/06/2021", "x"],
            "victim_name": ["Ann Lee", "Bob Stone", "CANARY-1", "Dee Ray", "Eve Moss", "Fay Ko"],
            "gender": ["F", "M", "Q", "F", None, "F"],
            "source_row": [2, 3, 4, 5, 6, 7],
            "delivery_date": ["2026-01-01"] * 6,
            "delivery_sha256": [SHA256] * 6,
        }
    )


DATE = r"^(?:0[1-9]|1[0-2])/(?:0[1-9]|[12][0-9]|3[01])/[0-9]{4}$"
SUITE = {
    "name": "raw/hotline-test",
    "meta": {
        "ctdc": {
            "derived_columns": [
                {
                    "name": "report_date__year",
                    "function": "year_of",
                    "args": {"column": "report_date", "formats": ["%m/%d/%Y"]},
                }
            ]
        }
    },
    "expectations": [
        exp(
            "expect_column_values_to_match_regex",
            description="not a date in MM/DD/YYYY",
            column="report_date",
            regex=DATE,
        ),
        exp(
            "expect_column_values_to_be_between",
            description="not between 1990 and today",
            column="report_date__year",
            min_value=1990,
            max_value={"$PARAMETER": "current_year"},
        ),
        exp(
            "expect_column_values_to_be_unique",
            "warning",
            "case id delivered more than once",
            column="case_id",
        ),
        exp("expect_column_values_to_be_in_set", "warning", column="gender", value_set=["F", "M"]),
        exp(
            "expect_column_values_to_not_match_regex",
            "critical",
            "contains a canary",
            column="victim_name",
            regex="CANARY",
        ),
    ],
}


@pytest.fixture(scope="module")
def result() -> GateResult:
    return run_suite(SUITE, hotline_like(), gate="raw/hotline", personal_columns=["victim_name"])


def test_critical_failure_blocks_and_names_gate_delivery_column_and_rows(
    result: GateResult,
) -> None:
    check = result.to_check_result()
    assert check.passed is False
    assert check.severity == dg.AssetCheckSeverity.ERROR
    message = check.description or ""
    assert message.startswith("raw/hotline gate failed: column report_date: 2 rows")
    assert "not a date in MM/DD/YYYY" in message
    # the delivery by date and checksum: a file name may hold a person's name
    assert "e.g. rows 3, 7 of the delivery of 2026-01-01 (sha256 9f86d081884c)" in message


def test_counts_percentages_and_rows_come_from_the_whole_table(result: GateResult) -> None:
    by_id = {o.id: o for o in result.outcomes}
    fmt = by_id["expect_column_values_to_match_regex(report_date)"]
    assert (fmt.unexpected, fmt.evaluated, fmt.rows) == (2, 5, (3, 7))  # null not evaluated
    year = by_id["expect_column_values_to_be_between(report_date__year)"]
    assert year.columns == ("report_date",)  # derived column shown as its source
    assert (year.unexpected, year.rows) == (1, (4,))
    dup = by_id["expect_column_values_to_be_unique(case_id)"]
    assert (dup.unexpected, dup.rows, dup.severity) == (2, (3, 4), "warning")


def test_metadata_is_readable(result: GateResult) -> None:
    md = result.to_check_result().metadata
    assert md["evaluated"] == dg.MetadataValue.int(5)
    assert md["failed"] == dg.MetadataValue.int(3)
    assert md["warnings"] == dg.MetadataValue.int(2)
    table = md["failures"].value
    assert "| critical | report_date | not a date in MM/DD/YYYY | 2 | 40.0% |" in table
    # delivered values outside the vocabulary: their shape, never their text
    assert "`<redacted: 10 chars, digits, punctuation> (1)`" in table
    assert "`<redacted: 1 char, letters> (1)`" in table
    assert "13/45/2020" not in table and "`x" not in table
    by_id = {o.id: o for o in result.outcomes}
    fmt = by_id["expect_column_values_to_match_regex(report_date)"]
    assert {value for value, *_ in fmt.found} == {"13/45/2020", "x"}  # audit.findings only
    assert "13/45/2020" not in json.dumps(result.to_dict())


def test_personal_columns_show_counts_only(result: GateResult) -> None:
    text = json.dumps(result.to_dict()) + str(result.to_check_result().metadata)
    text += result.to_markdown() + result.summary()
    for name in ("Ann Lee", "Bob Stone", "CANARY-1", "Dee Ray"):
        assert name not in text
    assert "personal data: counts only" in result.failures_markdown()
    canary = next(o for o in result.outcomes if o.columns == ("victim_name",))
    assert (canary.unexpected, canary.rows, canary.samples) == (1, (4,), ())
    assert not canary.found  # not even for audit.findings: identifiers stay in raw
    # case ids: redacted in reports, kept for the engineer unless the caller says personal
    dup = next(o for o in result.outcomes if o.columns == ("case_id",))
    assert "HL-2" not in result.failures_markdown() and dup.found[0][0] == "HL-2"
    again = run_suite(SUITE, hotline_like(), gate="raw/hotline", personal_columns=["case_id"])
    assert not next(o for o in again.outcomes if o.columns == ("case_id",)).found


def test_only_the_standards_vocabulary_is_shown_in_any_column() -> None:
    """A plain name typed into a gender field looks like nothing: no pattern can hide it."""
    values = ["F", "ann@example.org", "+1 555 123 4567", "Maribel Okonkwo", "Female"]
    frame = pl.DataFrame({"gender": values})
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_column_values_to_be_in_set", column="gender", value_set=["F"])
        ],
    }
    out = run_suite(suite, frame, gate="harmonized/x")
    text = out.failures_markdown() + json.dumps(out.to_dict()) + out.summary()
    assert "example.org" not in text and "555" not in text and "okonkwo" not in text.lower()
    assert "<redacted: 15 chars, letters, spaces>" in text  # the name's shape
    assert "`Female (1)`" in out.failures_markdown()  # a value of the standard is shown
    assert out.outcomes[0].unexpected == 4
    assert "rows 2, 3, 4" in out.summary()  # no source_row column: rows are table positions


def test_warnings_do_not_block() -> None:
    suite = {"name": "s", "expectations": SUITE["expectations"][2:4]}
    out = run_suite(suite, hotline_like(), gate="raw/hotline")
    check = out.to_check_result()
    assert check.passed is True
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert "gate passed with 2 warning(s)" in (check.description or "")
    assert check.metadata["warnings"] == dg.MetadataValue.int(2)


def test_unknown_expectation_type_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_column_values_to_not_be_null", column="a"),
            exp("expect_column_values_to_be_purple", column="a"),
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(suite))
    with pytest.raises(SuiteError, match=r"#2 \(expect_column_values_to_be_purple\): unknown"):
        load_suite(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": None}, "severity must be 'critical' or 'warning'"),
        ({"severity": "error"}, "severity must be 'critical' or 'warning'"),
        ({"kwargs": {"column": "a", "value_set": [1], "colour": "red"}}, "invalid configuration"),
        (  # GX would accept it, but the bridge judges distinct values, not rows
            {"kwargs": {"column": "a", "value_set": [1], "row_condition": 'b=="x"'}},
            "row_condition is not supported",
        ),
    ],
)
def test_bad_expectations_are_errors(change: dict, message: str) -> None:
    bad = exp("expect_column_values_to_be_in_set", column="a", value_set=[1]) | change
    with pytest.raises(SuiteError, match=message):
        load_suite({"name": "s", "expectations": [bad]})


def test_missing_parameter_skips_only_that_expectation() -> None:
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_table_row_count_to_be_between", min_value=1),
            exp(
                "expect_table_row_count_to_be_between",
                "warning",
                min_value={"$PARAMETER": "previous_min"},
            ),
        ],
    }
    frame = pl.DataFrame({"a": [1, 2, 3]})
    out = run_suite(suite, frame, gate="raw/x")
    assert [o.status for o in out.outcomes] == ["passed", "skipped"]
    out = run_suite(suite, frame, gate="raw/x", parameters={"previous_min": 10})
    assert [o.status for o in out.outcomes] == ["passed", "failed"]
    assert out.passed and out.warnings


def test_mostly_is_applied_to_row_counts_not_distinct_values() -> None:
    frame = pl.DataFrame({"a": ["x"] * 98 + ["y", "z"]})  # 2 of 3 distinct values bad, 2% of rows
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_column_values_to_be_in_set", column="a", value_set=["x"], mostly=0.97)
        ],
    }
    out = run_suite(suite, frame, gate="g")
    assert out.passed and out.outcomes[0].unexpected == 2
    suite["expectations"][0]["kwargs"]["mostly"] = 0.99
    assert not run_suite(suite, frame, gate="g").passed


def test_missing_columns_and_empty_tables() -> None:
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_table_columns_to_match_set", column_set=["a", "b"], exact_match=False),
            exp("expect_column_values_to_not_be_null", column="b"),
            exp("expect_table_row_count_to_be_between", min_value=1),
        ],
    }
    out = run_suite(suite, pl.DataFrame({"a": []}, schema={"a": pl.String}), gate="raw/x")
    assert [o.status for o in out.outcomes] == ["failed", "failed", "failed"]
    assert "missing: b" in (out.outcomes[0].observed or "")
    assert "column b missing" in (out.outcomes[1].observed or "")


def test_severity_overrides_turn_errors_into_warnings() -> None:
    suite = {
        "name": "s",
        "expectations": [
            exp("expect_column_values_to_be_in_set", column="a", value_set=[1])
            | {"meta": {"id": "a.consistent_with_flags"}}
        ],
    }
    frame = pl.DataFrame({"a": [1, 2]})
    assert not run_suite(suite, frame, gate="g").passed
    out = run_suite(
        suite, frame, gate="g", severity_overrides={"*.consistent_with_flags": "warning"}
    )
    assert out.passed and len(out.warnings) == 1


def test_result_round_trips_through_check_metadata(result: GateResult) -> None:
    check = result.to_check_result()
    again = GateResult.from_dict(check.metadata["result"].value)
    assert again.summary() == result.summary()
    assert again.failures_markdown() == result.failures_markdown()


def test_lazy_frames_are_accepted() -> None:
    out = run_suite(SUITE, hotline_like().lazy(), gate="raw/hotline")
    assert out.row_count == 6 and len(out.critical_failures) == 3


def test_results_do_not_depend_on_chunking(result: GateResult) -> None:
    frame = pl.concat([hotline_like().drop("source_row")] * 3).with_row_index("source_row", 2)
    whole = run_suite(SUITE, frame, gate="raw/hotline", chunk_rows=1_000)
    chunked = run_suite(SUITE, frame, gate="raw/hotline", chunk_rows=4)
    assert [asdict(o) for o in chunked.outcomes] == [asdict(o) for o in whole.outcomes]
    dup = next(o for o in whole.outcomes if o.id.endswith("unique(case_id)"))
    assert dup.unexpected == 18 and dup.rows == (2, 3, 4, 5, 6)

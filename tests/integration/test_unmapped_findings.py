"""A new user's typo: one row of each contributor's delivery holds a value its crosswalk
cannot map. The run still publishes (one row is far below the share limit), but the
value is never silent: the terminal of `ctdc run` and `ctdc findings` name value, column
and row; the harmonized check in the real UI (GraphQL of `ctdc ui`) and the release's
quality report name column, row and count, with the value redacted to its shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import SMALL_SAMPLE, Deployment, make_deployment
from test_ui_browser import _graphql, running_ui

from ctdc_assets.sample_data import file_names, write_sample

pytestmark = pytest.mark.slow

#: contributor -> (column, typo, delivery row number a person would see)
TYPOS = {
    "hotline": ("victim_gender", "Mle", 11),  # CSV: line 11 (line 1 is the header)
    "case_agency": ("prs_Gender", "Femenine", 10),  # the workbook's row 10
    "ngo_network": ("person.sex", "Fm", 10),  # JSON line 10
}

EXECUTIONS = """
query Executions($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) {
    evaluation {
      severity
      metadataEntries { label ... on MarkdownMetadataEntry { mdStr } }
    }
  }
}
"""


def plant_typos(landing: Path) -> None:
    for contributor, file in file_names().items():
        column, typo, row = TYPOS[contributor]
        path = landing / contributor / file
        if path.suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
            frame.with_columns(frame[column].scatter(row - 2, typo)).write_csv(path)
        elif path.suffix == ".jsonl":
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            parent, leaf = column.split(".")
            lines[row - 1][parent][leaf] = typo
            path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
        else:
            book = openpyxl.load_workbook(path)
            sheet = book["Cases"]
            heads = [c.value for c in sheet[1]]
            sheet.cell(row=row, column=heads.index(column) + 1).value = typo
            book.save(path)


@pytest.fixture(scope="module")
def typo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, str]]:
    saved = dict(os.environ)
    deployment = make_deployment(tmp_path_factory.mktemp("typos"))
    landing = deployment.data_dir / "landing"
    write_sample(landing, records=SMALL_SAMPLE, seed=8)
    plant_typos(landing)
    done = subprocess.run(
        [sys.executable, "-m", "ctdc_assets.cli", "run"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield deployment, done.stdout
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _rows_of(line: str) -> str:
    return line.split("rows ", 1)[1] if "rows " in line else ""


def test_the_terminal_names_value_column_and_row(typo_run) -> None:
    _, stdout = typo_run
    for contributor, (column, typo, row) in TYPOS.items():
        gate = next(
            line
            for line in stdout.splitlines()
            if f"harmonized/{contributor}:harmonized_gate" in line
        )
        assert f"column {column}: {typo!r} × 1, rows {row} (unmapped value, new)" in gate, gate


def test_ctdc_findings_lists_it_as_new(typo_run) -> None:
    for contributor, (column, typo, row) in TYPOS.items():
        done = subprocess.run(
            [sys.executable, "-m", "ctdc_assets.cli", "findings", contributor],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "harmonize: unmapped value, new" in done.stdout
        assert f"  {column}: {typo!r} × 1 (rows {row})" in done.stdout, done.stdout


def _listed_line(table: str, column: str) -> str:
    (line,) = [row for row in table.splitlines() if f" {column} " in row]
    return line


def test_the_ui_check_and_the_report_show_it_redacted(typo_run) -> None:
    deployment, stdout = typo_run
    release = Path(stdout.split("Release published at ", 1)[1].split()[0])
    report = (release / "quality_report.md").read_text(encoding="utf-8")
    with running_ui(deployment.root / "ui.log") as port:
        for contributor, (column, typo, row) in TYPOS.items():
            (execution,) = _graphql(
                port,
                EXECUTIONS,
                {"key": {"path": ["harmonized", contributor]}, "check": "harmonized_gate"},
            )["assetCheckExecutions"]
            evaluation = execution["evaluation"]
            assert evaluation["severity"] == "WARN"
            entries = {e["label"]: e.get("mdStr") for e in evaluation["metadataEntries"]}
            for table in (entries["unmapped_values"], report):
                line = _listed_line(table, column)
                cells = [cell.strip() for cell in line.strip("|").split("|")]
                assert cells[0] == column and str(row) in cells[4].split(", "), line
                assert cells[3] == "1" and cells[5] == "new", line
                assert cells[1].startswith("<redacted: ") and typo not in table, line
            assert "unmapped" in entries["expectations"] and "| warning" in entries["expectations"]

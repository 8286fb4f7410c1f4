"""The bad-input matrix: each bad delivery is stopped at its gate, says where, and
leaves everything downstream, the delivery itself and the last release untouched.

One deployment (module fixture) runs the whole pipeline once on a small sample and
publishes a release. Each case then drops one bad delivery into a contributor's landing
folder (newer name, atomic rename, newest modification time), runs that contributor's
raw asset and everything downstream of it as `ctdc run --select` does, and checks:

- the run failed, at the named gate (the raw asset's reader, the raw gate, or the
  harmonized gate), with a message that names the file, the row and the column;
- nothing downstream of the gate materialized (latest materializations unchanged);
- the bad delivery is byte-identical on disk (the pipeline never rewrites landing);
- every file under `data/releases/` is byte-identical and `latest` points where it did.

Warn-only inputs (an unknown extra column, re-sent case ids) must pass with a warning
naming the column and flow downstream. Bad deliveries are made from the good sample
delivery, so they stay small and realistic, and each is removed after its case so the
next one starts from the good delivery. `test_without_the_gate_*` run the same bad
input with the gate switched off and find the bad values in `merged.victims`: the gate
is what stops them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import openpyxl
import polars as pl
import pytest
from conftest import Deployment, make_deployment

from ctdc_assets.assets.gating import require_passed_gates
from ctdc_assets.assets.resources import Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import load_crosswalks, read_delivery
from ctdc_assets.definitions import build_definitions
from ctdc_assets.landing import sha256_file
from ctdc_assets.runner import RunOutcome, run_pipeline
from ctdc_assets.sample_data import write_sample

pytestmark = pytest.mark.slow

RECORDS = 600  # case_agency 360 rows, hotline 156, ngo_network 84: every shape, fast
OLD = time.time() - 3600  # the good deliveries arrived an hour ago
BAD_NAMES = {  # newer than the sample's 2025 deliveries by name as well as by time
    "case_agency": "case_agency_2099-01-01.xlsx",
    "hotline": "hotline_export_20990101.csv",
    "ngo_network": "ngo_network_cases_2099-01.jsonl",
}
ALL_DOWNSTREAM = (
    "merged/victims",
    "statistics/aggregates",
    "statistics/dashboard",
    "release/candidate",
    "release/published",
)


@dataclass
class Baseline:
    """The deployment after one good run that published a release."""

    deployment: Deployment
    good: dict[str, Path]  # contributor -> its good delivery in landing

    @property
    def settings(self) -> Settings:
        return Settings.from_env()

    def landing(self, contributor: str) -> Path:
        return self.deployment.data_dir / "landing" / contributor


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    saved = dict(os.environ)
    try:
        deployment = make_deployment(tmp_path_factory.mktemp("bad_inputs"))
        good = write_sample(deployment.data_dir / "landing", records=RECORDS, seed=13)
        for path in good.values():
            os.utime(path, (OLD, OLD))
        outcome = run_pipeline(Settings.from_env())
        assert outcome.success and outcome.release, outcome.summary()
        yield Baseline(deployment, good)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --------------------------------------------------------------------------- bad inputs


@dataclass
class BadInput:
    """A bad delivery and what its failure message must say besides gate and file."""

    data: bytes
    says: list[str] = field(default_factory=list)  # row, column, reason
    planted: list[str] = field(default_factory=list)  # case ids whose values were spoiled


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _sheet(good: Path) -> pl.DataFrame:
    """The good spreadsheet as text (as the reader sees it), in sheet order."""
    crosswalk = load_crosswalks(Settings.from_env().crosswalks_dir)["case_agency"]
    return read_delivery(crosswalk, good).drop("source_row", "source_sheet")


def _xlsx(frame: pl.DataFrame, sheet: str = "Cases") -> bytes:
    """A workbook like the agency's: the cases sheet (all text), then an About sheet."""
    book = openpyxl.Workbook(write_only=True)
    cases = book.create_sheet(sheet)
    cases.append(frame.columns)
    for row in frame.iter_rows():
        cases.append(list(row))
    book.create_sheet("About").append(["Case export of the agency's case system."])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def empty_file(good: Path) -> BadInput:
    return BadInput(b"", ["empty file (0 bytes)"])


def header_only(good: Path) -> BadInput:
    header = good.read_bytes().split(b"\n", 1)[0] + b"\n"
    return BadInput(header, ["no records"])


def required_column_missing(good: Path) -> BadInput:
    rows = _csv_rows(good)
    i = rows[0].index("report_date")
    return BadInput(
        _csv_text([r[:i] + r[i + 1 :] for r in rows]).encode(),
        ["row 1 (header)", "required column(s) missing: report_date"],
    )


def extra_unknown_column(good: Path) -> BadInput:
    rows = _csv_rows(good)
    rows = [rows[0] + ["referral_source"]] + [[*r, "web form"] for r in rows[1:]]
    return BadInput(_csv_text(rows).encode(), ["column referral_source"])


def latin1_as_utf8(good: Path) -> BadInput:
    rows = _csv_rows(good)
    rows[7][rows[0].index("victim_citizenship")] = "Sénégal"
    # The first value a UTF-8 reader cannot decode: the planted one, or an earlier accent.
    row, column = next(
        (number, rows[0][i])
        for number, values in enumerate(rows[1:], start=2)
        for i, value in enumerate(values)
        if not value.isascii()
    )
    data = _csv_text(rows).encode("latin-1", errors="replace")
    return BadInput(data, [f"row {row} ", f"column {column!r}", "cannot decode as utf-8"])


def wrong_delimiter(good: Path) -> BadInput:
    data = _csv_text(_csv_rows(good), delimiter=";").encode()
    return BadInput(data, ["row 1 (header)", "report_date", "wrong delimiter", "';'"])


def truncated_last_line(good: Path) -> BadInput:
    """Cut off in transfer two characters into the seventh field of the last record."""
    rows = _csv_rows(good)
    *complete, last = rows
    cut = _csv_text([[*last[:6], last[6][:2]]]).rstrip("\n")
    return BadInput(
        (_csv_text(complete) + cut).encode(),
        [f"row {len(rows)} ", f"7 field(s) where the header has {len(rows[0])}", repr(rows[0][7])],
    )


def truncated_inside_quoted_value(good: Path) -> BadInput:
    """Cut off in transfer inside the quoted free text of the last record kept."""
    rows = _csv_rows(good)
    last = max(i for i, r in enumerate(rows) if "," in r[-1])  # a quoted last column
    text = _csv_text(rows[: last + 1]).rstrip("\n")
    assert text.endswith('"')
    return BadInput(text[:-12].encode(), [f"row {last + 1} ", "column 'narrative'", "quoted"])


def binary_garbage(good: Path) -> BadInput:
    return BadInput(random.Random(7).randbytes(4096), ["NUL byte", "byte offset"])


def workbook_named_csv(good: Path) -> BadInput:
    return BadInput(_xlsx(pl.DataFrame({"case_id": ["x"]})), ["byte 0", "zip archive"])


def missing_sheet(good: Path) -> BadInput:
    return BadInput(_xlsx(_sheet(good), sheet="Sheet1"), ["no sheet matches 'Cases*'", "Sheet1"])


def unparseable_dates(good: Path) -> BadInput:
    """Registration dates in other formats, on rows that reach merged (consenting, unique)."""
    frame = _sheet(good).with_row_index("i")
    eligible = frame.filter(
        pl.col("con_Consent").str.strip_chars().str.to_lowercase().is_in(["true", "yes", "y"])
        & (pl.col("vic_TraffickingStatus").str.to_lowercase() != "notavictimoftrafficking")
        & (pl.col("cas_CaseNumber").is_unique())
    )
    spoiled = dict(
        zip(eligible["i"].head(3), ["2019-03-04", "12/31/2019", "March 2019"], strict=True)
    )
    frame = frame.with_columns(
        cas_RegistrationDate=pl.col("i").replace_strict(
            spoiled, default=pl.col("cas_RegistrationDate"), return_dtype=pl.String
        )
    )
    rows = ", ".join(str(i + 2) for i in sorted(spoiled))
    return BadInput(
        _xlsx(frame.drop("i")),
        ["column cas_RegistrationDate", f"rows {rows} ", "not a date in dd/mm/yyyy"],
        planted=eligible["cas_CaseNumber"].head(3).to_list(),
    )


def unmapped_codes(good: Path) -> BadInput:
    """A third of the genders in a spelling the crosswalk does not know."""
    rows = _csv_rows(good)
    case, gender = rows[0].index("case_id"), rows[0].index("victim_gender")
    ids = [r[case] for r in rows[1:]]
    planted = []
    for r in rows[1::3]:
        r[gender] = "Femenino"
        if ids.count(r[case]) == 1:
            planted.append(r[case])
    return BadInput(_csv_text(rows).encode(), ["column gender", "unmapped"], planted=planted)


def duplicated_case_ids(good: Path) -> BadInput:
    """The first three cases (unique ids) re-sent under one id."""
    lines = good.read_bytes().decode().splitlines()
    records = [json.loads(line) for line in lines]
    ids = [r["case"]["id"] for r in records]
    first = [i for i, case_id in enumerate(ids) if ids.count(case_id) == 1][:3]
    for i in first[1:]:
        records[i]["case"]["id"] = ids[first[0]]
    ids = [r["case"]["id"] for r in records]
    shown = [i for i, case_id in enumerate(ids) if ids.count(case_id) > 1][:3]  # first rows
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    numbers = ", ".join(str(i + 1) for i in shown)
    return BadInput(text.encode(), ["column case.id", f"rows {numbers} "])


def broken_json_line(good: Path) -> BadInput:
    lines = good.read_bytes().split(b"\n")
    lines[36] = lines[36][: len(lines[36]) // 2]
    try:
        json.loads(lines[36])
    except json.JSONDecodeError as error:
        column = error.colno
    return BadInput(b"\n".join(lines), [f"line 37, column {column}", "broken JSON"])


def jsonl_key_collision(good: Path) -> BadInput:
    """`case.id` beside `case: {id}` on line 5: two keys, one column once flattened."""
    lines = good.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[4])
    record["case.id"] = "LS-COLLIDES"
    lines[4] = json.dumps(record)
    return BadInput(("\n".join(lines) + "\n").encode(), ["line 5, column case.id", "same column"])


def duplicate_json_key(good: Path) -> BadInput:
    """Line 9 says `notes` twice: which one counts is undefined in JSON."""
    lines = good.read_text(encoding="utf-8").splitlines()
    lines[8] = lines[8].rstrip()[:-1] + ', "notes": "the second notes"}'
    return BadInput(("\n".join(lines) + "\n").encode(), ["line 9, column notes", "twice"])


def nul_byte_after_64_kib(good: Path) -> BadInput:
    """Rows long enough that the NUL byte of row 40 lies beyond the sniffed first 64 KiB."""
    rows = _csv_rows(good)
    narrative, gender = rows[0].index("narrative"), rows[0].index("victim_gender")
    for row in rows[1:20]:
        row[narrative] = (row[narrative] + " Follow-up call." * 300).strip()
    rows[39][gender] = "Fe\x00male"
    data = _csv_text(rows).encode()
    assert data.index(b"\x00") > 1 << 16
    return BadInput(data, ["row 40, column victim_gender", "NUL byte"])


def future_dates(good: Path) -> BadInput:
    """Report dates later than today (a few days ahead: this year or the next)."""
    rows = _csv_rows(good)
    date = rows[0].index("report_date")
    ahead = (dt.date.today() + dt.timedelta(days=3)).strftime("%m/%d/%Y")
    for row in rows[10:13]:
        row[date] = ahead
    return BadInput(
        _csv_text(rows).encode(), ["column report_date", "later than today", "rows 11, 12, 13 "]
    )


# --------------------------------------------------------------------------- observation


def _release_tree(releases: Path) -> dict[str, str]:
    """Every file (sha256), folder and link under data/releases/."""
    tree = {}
    for path in sorted(releases.rglob("*")):
        name = path.relative_to(releases).as_posix()
        if path.is_symlink():
            tree[name] = "-> " + os.readlink(path)
        elif path.is_dir():
            tree[name] = "folder"
        else:
            tree[name] = sha256_file(path)
    return tree


def _landing_tree(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


def _timestamps(keys: list[str]) -> dict[str, float]:
    with dg.DagsterInstance.get() as instance:
        return {
            key: instance.get_latest_materialization_event(dg.AssetKey(key.split("/"))).timestamp
            for key in keys
        }


def _metadata(key: str) -> dict[str, object]:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(key.split("/")))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _requested_by_automation(cursor: str | None) -> tuple[set[str], str]:
    """What the automation sensor would launch now (checks excluded), and its cursor."""
    defs = build_definitions(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    keys = {
        r.key.to_user_string()
        for r in result.results
        if isinstance(r.key, dg.AssetKey) and r.true_subset.size
    }
    return keys, result.cursor


def _table(name: str) -> pl.DataFrame:
    warehouse = Warehouse.from_settings(Settings.from_env())
    schema, table = name.split(".")
    with warehouse.connection(read_only=True) as con:
        return con.execute(f'SELECT * FROM {schema}."{table}"').pl()


def _record_keys(contributor: str, case_ids: list[str]) -> list[str]:
    """The documented record key: HMAC-SHA256 of `<contributor>\\x1f<case id>`."""
    key = Settings.from_env().pseudonym_key()
    return [
        hmac.new(key, f"{contributor}\x1f{c.strip()}".encode(), hashlib.sha256).hexdigest()
        for c in case_ids
    ]


@contextmanager
def delivered(baseline: Baseline, contributor: str, data: bytes) -> Iterator[Path]:
    """The bad delivery in landing by atomic rename, newest of all; removed afterwards."""
    folder = baseline.landing(contributor)
    name = BAD_NAMES[contributor]
    partial = folder / f"{name}.part"
    partial.write_bytes(data)
    newest = max(p.stat().st_mtime for p in folder.iterdir()) + 60
    os.utime(partial, (newest, newest))
    path = folder / name
    os.rename(partial, path)
    try:
        yield path
    finally:
        path.unlink()
        _restore(contributor)


def _restore(contributor: str) -> None:
    """After a gate rejected a delivery, reload the good one, as an operator would.

    Gates hold across runs: while the contributor's latest raw or harmonized data is
    the rejected one, nothing downstream of it may run (that is tested above), so
    the next case starts from the contributor's good delivery again.
    """
    keys = [dg.AssetKey(["raw", contributor]), dg.AssetKey(["harmonized", contributor])]
    with dg.DagsterInstance.get() as instance:
        try:
            require_passed_gates(instance, keys)
            return
        except dg.Failure:
            pass
    outcome = run_pipeline(Settings.from_env(), selection=f'key:"raw/{contributor}"+1')
    assert outcome.success, outcome.summary()


def _failure(outcome: RunOutcome, gate: str) -> str:
    """The message of the failed gate: a failed check `asset:check`, or the asset's step."""
    if ":" in gate:
        asset = gate.split(":")[0]
        found = [f for f in outcome.failed_checks if f.startswith(f"{gate}: {asset} gate failed")]
    else:
        found = [f for f in outcome.failed_steps if f.startswith(f"{gate}: ")]
    assert len(found) == 1, f"expected {gate} to fail:\n{outcome.summary()}"
    return found[0]


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], BadInput]
    contributor: str
    gate: str  # `raw/x` (the reader, in the asset) or `asset:check` (a blocking gate)

    @property
    def stopped_before(self) -> list[str]:
        """Assets that must not materialize: those after the gate (and the asset whose
        reader rejected the file)."""
        if ":" not in self.gate:
            return [self.gate, f"harmonized/{self.contributor}", *ALL_DOWNSTREAM]
        if self.gate.startswith("raw/"):
            return [f"harmonized/{self.contributor}", *ALL_DOWNSTREAM]
        return list(ALL_DOWNSTREAM)


BLOCKING = [
    Case(empty_file, "hotline", "raw/hotline"),
    Case(header_only, "hotline", "raw/hotline"),
    Case(required_column_missing, "hotline", "raw/hotline"),
    Case(latin1_as_utf8, "hotline", "raw/hotline"),
    Case(wrong_delimiter, "hotline", "raw/hotline"),
    Case(truncated_last_line, "hotline", "raw/hotline"),
    Case(truncated_inside_quoted_value, "hotline", "raw/hotline"),
    Case(binary_garbage, "hotline", "raw/hotline"),
    Case(workbook_named_csv, "hotline", "raw/hotline"),
    Case(missing_sheet, "case_agency", "raw/case_agency"),
    Case(unparseable_dates, "case_agency", "raw/case_agency:raw_gate"),
    Case(unmapped_codes, "hotline", "harmonized/hotline:harmonized_gate"),
    Case(broken_json_line, "ngo_network", "raw/ngo_network"),
    Case(jsonl_key_collision, "ngo_network", "raw/ngo_network"),
    Case(duplicate_json_key, "ngo_network", "raw/ngo_network"),
    Case(nul_byte_after_64_kib, "hotline", "raw/hotline"),
    Case(future_dates, "hotline", "raw/hotline:raw_gate"),
]


@pytest.mark.parametrize("case", BLOCKING, ids=[c.make.__name__ for c in BLOCKING])
def test_a_bad_delivery_is_stopped_at_its_gate(baseline: Baseline, case: Case) -> None:
    bad = case.make(baseline.good[case.contributor])
    releases = baseline.settings.releases_dir
    release_before = _release_tree(releases)
    latest = (releases / "latest").resolve()
    before = _timestamps(case.stopped_before)
    checked = ":" in case.gate  # the asset wrote its table; its blocking check failed
    if checked:
        _, cursor = _requested_by_automation(None)  # the automation has seen the state
    with delivered(baseline, case.contributor, bad.data) as path:
        landing_before = _landing_tree(path.parent)
        outcome = run_pipeline(Settings.from_env(), selection=f'key:"raw/{case.contributor}"+')
        assert not outcome.success, outcome.summary()
        message = _failure(outcome, case.gate)
        assert path.name in message, message
        for fragment in bad.says:
            assert fragment in message, f"{fragment!r} not in: {message}"
        assert "CANARY" not in outcome.summary()  # never a value of an identifier

        assert not set(outcome.materialized) & set(case.stopped_before), outcome.summary()
        assert _timestamps(case.stopped_before) == before
        assert _landing_tree(path.parent) == landing_before  # the delivery is as it came
        assert _release_tree(releases) == release_before
        assert (releases / "latest").resolve() == latest
        if checked:  # nor would the automation sensor carry it further
            requested, _ = _requested_by_automation(cursor)
            assert not requested & set(case.stopped_before), requested


WARNING = [
    Case(extra_unknown_column, "hotline", "raw/hotline:raw_gate"),
    Case(duplicated_case_ids, "ngo_network", "raw/ngo_network:raw_gate"),
]


@pytest.mark.parametrize("case", WARNING, ids=[c.make.__name__ for c in WARNING])
def test_a_doubtful_delivery_passes_with_a_warning(baseline: Baseline, case: Case) -> None:
    bad = case.make(baseline.good[case.contributor])
    harmonized = f"harmonized/{case.contributor}"
    refreshed = [harmonized, "merged/victims"]
    before = _timestamps(refreshed)
    duplicates_before = _metadata(harmonized)["count_duplicates"]
    releases = baseline.settings.releases_dir
    release_before = _release_tree(releases)
    with delivered(baseline, case.contributor, bad.data) as path:
        outcome = run_pipeline(
            Settings.from_env(),
            selection=f'key:"raw/{case.contributor}" or key:"{harmonized}" or key:"merged/victims"',
        )
        assert outcome.success, outcome.summary()
        gate = case.gate.split(":")[0]
        warnings = [w for w in outcome.warned_checks if w.startswith(f"{case.gate}: ")]
        assert len(warnings) == 1, outcome.summary()
        message = warnings[0]
        assert f"{gate} gate passed with" in message and path.name in message, message
        for fragment in bad.says:
            assert fragment in message, f"{fragment!r} not in: {message}"

    after = _timestamps(refreshed)
    assert all(after[k] > before[k] for k in refreshed), "a warning must not stop the data"
    assert _release_tree(releases) == release_before  # not published in this run
    if case.make is extra_unknown_column:  # kept in raw, dropped from everything after it
        assert "referral_source" in _table(f"raw.{case.contributor}").columns
        assert "referral_source" not in _table(f"harmonized.{case.contributor}").columns
        assert "referral_source" not in _table("merged.victims").columns
    else:  # re-sent cases: the latest version kept, the others counted
        assert _metadata(harmonized)["count_duplicates"] == duplicates_before + 2


# --------------------------------------------------------------------------- without the gate


def test_without_the_raw_gate_unparseable_dates_reach_merged(baseline: Baseline) -> None:
    """The same spreadsheet as `unparseable_dates`, with an empty raw suite: the dates
    pass raw, the automation carries them on, and merged holds them as unknown years."""
    bad = unparseable_dates(baseline.good["case_agency"])
    keys = _record_keys("case_agency", bad.planted)
    suite = baseline.settings.expectations_dir / "raw" / "case_agency.json"
    kept = suite.read_bytes()
    _, cursor = _requested_by_automation(None)
    try:
        suite.write_text(json.dumps({"name": "raw/case_agency", "expectations": []}))
        with delivered(baseline, "case_agency", bad.data):
            outcome = run_pipeline(Settings.from_env(), selection='key:"raw/case_agency"')
            assert outcome.success, outcome.summary()
            requested, _ = _requested_by_automation(cursor)
            assert "harmonized/case_agency" in requested
            outcome = run_pipeline(
                Settings.from_env(),
                selection='key:"harmonized/case_agency" or key:"merged/victims"',
            )
            assert outcome.success, outcome.summary()
    finally:
        suite.write_bytes(kept)
    merged = _table("merged.victims").filter(pl.col("record_key").is_in(keys))
    assert merged.height == len(keys) == 3
    assert merged["yearOfRegistration"].to_list() == [-99] * 3


def test_without_the_harmonized_gate_unmapped_codes_reach_merged(baseline: Baseline) -> None:
    """The same delivery as `unmapped_codes`, with the crosswalk's unmapped threshold
    raised to 100%: a third of the genders arrive in merged as missing (-99)."""
    bad = unmapped_codes(baseline.good["hotline"])
    keys = _record_keys("hotline", bad.planted)
    crosswalk = baseline.settings.crosswalks_dir / "hotline.yaml"
    kept = crosswalk.read_text()
    assert "  max_unmapped_share: 0.02\n" in kept
    try:
        crosswalk.write_text(kept.replace("max_unmapped_share: 0.02", "max_unmapped_share: 1.0"))
        with delivered(baseline, "hotline", bad.data):
            outcome = run_pipeline(
                Settings.from_env(),
                selection='key:"raw/hotline" or key:"harmonized/hotline" or key:"merged/victims"',
            )
            assert outcome.success, outcome.summary()
    finally:
        crosswalk.write_text(kept)
    merged = _table("merged.victims").filter(pl.col("record_key").is_in(keys))
    assert merged.height > 10  # planted rows in the hotline's scope (2015 on)
    assert set(merged["gender"].to_list()) == {"-99"}


def test_an_asset_materialized_alone_after_a_failed_gate_is_still_stopped(
    baseline: Baseline,
) -> None:
    bad = unparseable_dates(baseline.good["case_agency"])
    before = _timestamps(["harmonized/case_agency"])
    with delivered(baseline, "case_agency", bad.data):
        outcome = run_pipeline(Settings.from_env(), selection='key:"raw/case_agency"')
        assert not outcome.success, outcome.summary()
        outcome = run_pipeline(Settings.from_env(), selection='key:"harmonized/case_agency"')
        assert _timestamps(["harmonized/case_agency"]) == before, outcome.summary()
        assert not outcome.success
        assert any("raw/case_agency (raw_gate) failed" in f for f in outcome.failed_steps)


def test_an_empty_extra_sheet_is_skipped_with_a_log_line(
    baseline: Baseline, caplog: pytest.LogCaptureFixture
) -> None:
    good = baseline.good["case_agency"]
    crosswalk = load_crosswalks(baseline.settings.crosswalks_dir)["case_agency"]
    book = openpyxl.load_workbook(io.BytesIO(_xlsx(_sheet(good))))
    book.create_sheet("Cases 2")  # nothing in it, not even a header
    path = baseline.deployment.root / "two_sheets.xlsx"
    book.save(path)
    frame = read_delivery(crosswalk, path)
    assert frame.height == read_delivery(crosswalk, good).height
    assert f"{path}: sheet 'Cases 2' is empty (no header, no rows): skipped" in caplog.text


def test_a_file_named_dot_dot_is_passed_over_with_a_message(baseline: Baseline) -> None:
    folder = baseline.landing("hotline")
    hidden = folder / "..hotline_export_20990101.csv"
    hidden.write_bytes(baseline.good["hotline"].read_bytes())
    try:
        outcome = run_pipeline(Settings.from_env(), selection='key:"raw/hotline"')
    finally:
        hidden.unlink()
    assert outcome.success, outcome.summary()
    with dg.DagsterInstance.get() as instance:
        messages = [e.user_message for e in instance.all_logs(outcome.run_id)]
    assert any("passed over: name starts with '..'" in message for message in messages), messages
    assert not any(hidden.name in message for message in messages)  # no file name stored

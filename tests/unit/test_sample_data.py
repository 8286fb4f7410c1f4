"""The sample deliveries look like the contributors' real ones, dirt included."""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import fastexcel
import numpy as np
import openpyxl
import polars as pl
import pycountry
import pytest

from ctdc_assets.sample_data import (
    CANARY_PREFIX,
    COLUMNS,
    CONTRIBUTORS,
    IDENTIFIER_COLUMNS,
    case_agency,
    countries,
    hotline,
    ngo_network,
    split_records,
    write_sample,
)
from ctdc_assets.sample_data.xlsx import StreamingXlsxWriter

RECORDS = 300
CANARY = re.compile(rf"{CANARY_PREFIX}-[0-9a-f]{{12}}")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample(tmp_path_factory.mktemp("sample"), RECORDS, seed=7)


def read_xlsx(path: Path) -> pl.DataFrame:
    book = fastexcel.read_excel(path)
    sheets = [s for s in book.sheet_names if s.startswith("Cases")]
    return pl.concat(
        [book.load_sheet(s, dtypes="string").to_polars() for s in sheets], how="vertical"
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def flatten(record: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.fixture(scope="module")
def frames(sample: dict[str, Path]) -> dict[str, pl.DataFrame]:
    """Every delivery as a table of strings (JSON flattened to dotted names)."""
    ngo = [flatten(r) for r in read_jsonl(sample["ngo_network"])]
    ngo_frame = pl.DataFrame(
        {
            k: [r[k] if r[k] is None or isinstance(r[k], str) else json.dumps(r[k]) for r in ngo]
            for k in ngo[0]
        },
        schema=dict.fromkeys(ngo[0], pl.String),
    )
    return {
        "case_agency": read_xlsx(sample["case_agency"]),
        "hotline": pl.read_csv(sample["hotline"], infer_schema=False),
        "ngo_network": ngo_frame,
    }


def test_three_deliveries_in_the_planned_layout(sample: dict[str, Path]) -> None:
    assert set(sample) == set(CONTRIBUTORS)
    names = {c: p.relative_to(p.parents[1]).as_posix() for c, p in sample.items()}
    assert names == {
        "case_agency": "case_agency/case_agency_2025-03-31.xlsx",
        "hotline": "hotline/hotline_export_20250331.csv",
        "ngo_network": "ngo_network/ngo_network_cases_2025-03.jsonl",
    }
    assert not list(sample["hotline"].parents[1].rglob("*.partial"))

    book = openpyxl.load_workbook(sample["case_agency"], read_only=True)
    assert book.sheetnames == ["Cases", "About"]
    header = next(book["Cases"].iter_rows(max_row=1, values_only=True))
    assert list(header) == COLUMNS["case_agency"]
    about = [row[0] for row in book["About"].iter_rows(values_only=True)]
    assert any("HTCDS" in line for line in about)

    with sample["hotline"].open(encoding="utf-8", newline="") as fh:
        assert fh.readline().rstrip("\n").split(",") == COLUMNS["hotline"]

    first = json.loads(sample["ngo_network"].read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == ["case", "person", "exploitation", "recruiter", "notes"]
    assert list(flatten(first)) == COLUMNS["ngo_network"]
    assert isinstance(first["exploitation"]["types"], list)
    records = read_jsonl(sample["ngo_network"])
    ids = [r["case"]["id"] for r in records]
    assert np.mean([re.fullmatch(r"LS-\d{8}", i) is not None for i in ids]) > 0.8
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["case"]["entered"]) for r in records)


def test_records_split_60_26_14(frames: dict[str, pl.DataFrame]) -> None:
    counts = {c: frames[c].height for c in CONTRIBUTORS}
    assert (
        counts
        == split_records(RECORDS)
        == {
            "case_agency": 180,
            "hotline": 78,
            "ngo_network": 42,
        }
    )
    assert sum(split_records(92_000).values()) == 92_000


def test_same_seed_same_files_other_seed_other_files(
    sample: dict[str, Path], tmp_path: Path
) -> None:
    again = write_sample(tmp_path / "again", RECORDS, seed=7)
    for contributor in ("hotline", "ngo_network"):
        assert again[contributor].read_bytes() == sample[contributor].read_bytes()
    assert read_xlsx(again["case_agency"]).equals(read_xlsx(sample["case_agency"]))
    assert again["case_agency"].read_bytes() == sample["case_agency"].read_bytes()

    other = write_sample(tmp_path / "other", RECORDS, seed=8)
    assert other["hotline"].read_bytes() != sample["hotline"].read_bytes()


@pytest.mark.parametrize("contributor", CONTRIBUTORS)
def test_canaries_in_every_identifier_column_and_nowhere_else(
    frames: dict[str, pl.DataFrame], contributor: str
) -> None:
    frame = frames[contributor]
    for column in frame.columns:
        hits = frame[column].drop_nulls().str.count_matches(CANARY.pattern).sum()
        if column in IDENTIFIER_COLUMNS[contributor]:
            assert hits >= 3, f"{contributor}.{column} has {hits} canaries"
        else:
            assert not frame[column].drop_nulls().str.contains(CANARY_PREFIX).any(), column


def test_canaries_even_at_one_hundred_records(tmp_path: Path) -> None:
    written = write_sample(tmp_path, 100, seed=3)
    ngo = [flatten(r) for r in read_jsonl(written["ngo_network"])]
    for column in IDENTIFIER_COLUMNS["ngo_network"]:
        assert sum(CANARY.search(str(r[column])) is not None for r in ngo) >= 3, column


def test_free_text_holds_names_and_phone_numbers(frames: dict[str, pl.DataFrame]) -> None:
    phone = r"\+\d{1,3} \d{2} \d{3} \d{4}|\(\d{3}\) \d{3}-\d{4}"
    for contributor, column, name_column in (
        ("case_agency", "cas_IncomingReferralDetails", "prs_FirstName"),
        ("hotline", "narrative", "victim_name"),
        ("ngo_network", "notes", "person.name.given"),
    ):
        frame = frames[contributor].filter(pl.col(column).is_not_null())
        assert frame[column].str.contains(phone).mean() > 0.5
        named = frame.filter(pl.col(name_column).is_not_null())
        mentions = [
            n.split()[0] in t for n, t in zip(named[name_column], named[column], strict=True)
        ]
        assert np.mean(mentions) > 0.5


def test_resent_duplicates_come_with_a_later_update(frames: dict[str, pl.DataFrame]) -> None:
    cases = frames["case_agency"].with_columns(
        modified=pl.col("cas_LastModifiedDate").str.to_date("%d/%m/%Y")
    )
    repeated = cases.filter(pl.col("cas_CaseNumber").is_duplicated())
    assert repeated.height >= 4
    for _, group in repeated.group_by("cas_CaseNumber", maintain_order=True):
        assert group["modified"].to_list()[1] > group["modified"].to_list()[0]

    calls = frames["hotline"]
    assert calls.filter(pl.col("case_id").is_duplicated()).height >= 4

    ngo = frames["ngo_network"]
    repeated = ngo.filter(pl.col("case.id").is_duplicated())
    assert repeated.height >= 4
    for _, group in repeated.group_by("case.id", maintain_order=True):
        assert group["case.updated"][1] > group["case.updated"][0]


def test_out_of_scope_and_no_consent_records_are_present(
    frames: dict[str, pl.DataFrame],
) -> None:
    years = frames["hotline"]["report_date"].str.to_date("%m/%d/%Y").dt.year()
    assert 2 <= (years < 2015).sum() <= 0.05 * len(years)
    assert years.min() >= 2007

    consent = frames["case_agency"]["con_Consent"]
    assert set(case_agency.CONSENT_NO) <= set(consent.drop_nulls())
    assert consent.null_count() >= 1
    assert consent.is_in(case_agency.CONSENT_NO).mean() < 0.1

    ngo_consent = frames["ngo_network"]["case.consent_to_share"]
    assert {"true", "false"} <= set(ngo_consent.drop_nulls()) and ngo_consent.null_count() >= 1


def test_dirt_is_planted_at_small_scale(frames: dict[str, pl.DataFrame]) -> None:
    cases, calls, ngo = (frames[c] for c in CONTRIBUTORS)

    def values(frame: pl.DataFrame, column: str) -> set[str]:
        return set(frame[column].drop_nulls())

    citizenship = values(cases, "prs_Citizenship")
    assert "NA" in citizenship  # Namibia
    assert set(case_agency.COUNTRY_AS_NAME) <= citizenship
    assert set(case_agency.COUNTRY_NOT_ISO) <= citizenship
    assert {"XX", "unknown", "N/A"} <= citizenship and cases["prs_Citizenship"].null_count()
    assert any(len(v) == 3 and v.isupper() for v in citizenship)  # alpha-3
    assert any(v != v.strip() or (len(v) == 2 and v.islower()) for v in citizenship)
    gender = values(cases, "prs_Gender")
    assert any(g != g.strip() for g in gender) and any(g.islower() for g in gender)
    assert {"00/00/0000", "01/01/1900"} <= values(cases, "prs_Birthdate")
    assert any(v.endswith(";") or "; " in v for v in values(cases, "vic_TypeOfExploitation"))
    assert set(case_agency.INDUSTRY_UNKNOWN) <= values(cases, "vic_ForcedLabourIndustry")
    assert "RestrictsMovement" in ";".join(values(cases, "vic_MethodsOfControl"))

    assert set(hotline.CITIZENSHIP_MISSPELLED) <= values(calls, "victim_citizenship")
    assert {"Unknown", "N/A"} <= values(calls, "victim_citizenship")
    assert set(hotline.US_VARIANTS) <= values(calls, "exploitation_country")
    assert set(hotline.GENDER_VARIANTS) <= values(calls, "victim_gender")
    assert set(hotline.AGE_IMPLAUSIBLE) <= values(calls, "victim_age")
    assert any("-" in a or "+" in a for a in values(calls, "victim_age"))
    assert calls["means_of_control"].null_count() > 0.4 * calls.height

    origin = values(ngo, "person.country_of_origin")
    assert set(ngo_network.COUNTRY_MISSPELLED) <= origin
    assert {"", "unknown", "N/A"} <= origin
    assert any(len(o) == 3 and o.isupper() for o in origin)
    assert {"-1", "130"} <= values(ngo, "person.age_at_intake")


def test_dates_and_ages_are_coherent(frames: dict[str, pl.DataFrame]) -> None:
    def day(column: str, fmt: str = "%d/%m/%Y") -> pl.Expr:
        return pl.col(column).str.to_date(fmt, strict=False)

    cases = frames["case_agency"].select(
        birth=day("prs_Birthdate"),
        recruited=day("vic_RecruitmentDate"),
        start=day("vic_ExploitationStartDate"),
        registered=day("cas_RegistrationDate"),
        modified=day("cas_LastModifiedDate"),
    )
    assert cases["registered"].null_count() == 0
    assert (cases["registered"] <= cases["modified"]).all()
    assert cases["modified"].max() <= dt.date(2025, 2, 28)  # before any delivery date
    assert (cases["birth"] < cases["registered"]).drop_nulls().all()
    assert (cases["start"] <= cases["registered"]).drop_nulls().all()
    assert (cases["birth"] < cases["start"]).drop_nulls().all()
    assert (cases["recruited"] <= cases["start"]).drop_nulls().all()
    ages = (cases["registered"] - cases["birth"]).dt.total_days().drop_nulls() / 365.25
    plausible = ages.filter(ages < 100)
    assert ((plausible >= 9) & (plausible < 18)).mean() > 0.1  # many minors
    assert ((plausible >= 9) & (plausible < 39)).mean() > 0.6

    ngo = frames["ngo_network"].select(
        birth=day("person.date_of_birth", "%Y-%m-%d"),
        entered=day("case.entered", "%Y-%m-%d"),
        updated=day("case.updated", "%Y-%m-%d"),
        age=pl.col("person.age_at_intake").cast(pl.Int64),
    )
    assert (ngo["entered"] <= ngo["updated"]).all()
    assert ngo["updated"].max() <= dt.date(2025, 2, 28)
    with_both = ngo.drop_nulls(["birth", "age"]).filter(pl.col("age").is_between(0, 120))
    computed = with_both.select(
        (pl.col("entered").dt.year() - pl.col("birth").dt.year())
        - (pl.col("entered").dt.ordinal_day() < pl.col("birth").dt.ordinal_day()).cast(pl.Int64)
    ).to_series()
    assert ((computed - with_both["age"]).abs() <= 1).all()


def test_marginals_resemble_the_real_contributors() -> None:
    counts = split_records(92_000)
    cases = case_agency.generate(7, 0, counts["case_agency"], {})
    calls = hotline.generate(7, 0, counts["hotline"], {})
    gender = cases["prs_Gender"].str.strip_chars().str.to_lowercase()
    assert 0.55 < (gender == "feminine").mean() < 0.75
    types = cases["vic_TypeOfExploitation"].drop_nulls()
    assert types.str.contains("(?i)forcedlabour").mean() > types.str.contains("(?i)sexual").mean()
    kind = calls["trafficking_type"].str.strip_chars().str.to_lowercase()
    assert (kind == "sex").mean() > 0.5
    assert (calls["exploitation_country"] == "United States").mean() > 0.85
    assert calls["victim_citizenship"].null_count() > 0.4 * calls.height
    head = cases["prs_Citizenship"].value_counts(sort=True)["prs_Citizenship"].head(3)
    assert set(head) == {"UA", "MD", "PH"}


def test_150_plus_countries_with_a_long_tail_at_default_scale() -> None:
    """Cheaper than writing the files: the generators' frames at the default 92,000."""
    counts = split_records(92_000)
    frames = [
        case_agency.generate(7, 0, counts["case_agency"], {}),
        hotline.generate(7, 0, counts["hotline"], {}),
        ngo_network.generate(7, 0, counts["ngo_network"], 1),
    ]
    to_alpha2 = {}
    for country in pycountry.countries:
        code = country.alpha_2
        for name in (code, country.alpha_3, country.name, countries.everyday_name(code)):
            to_alpha2[name.lower()] = code
    to_alpha2.pop("na")  # in the hotline and NGO files `NA` is not Namibia

    def alpha2(columns: list[pl.Series]) -> pl.Series:
        values = pl.concat([c.str.strip_chars().str.to_lowercase() for c in columns])
        return values.replace_strict(to_alpha2, default=None).drop_nulls()

    cases, calls, ngo = frames
    namibia = (cases["prs_Citizenship"] == "NA").sum()
    citizenship = alpha2(
        [cases["prs_Citizenship"], calls["victim_citizenship"], ngo["person.country_of_origin"]]
    )
    exploitation = alpha2(
        [
            cases["vic_LocationOfExploitation"],
            calls["exploitation_country"],
            ngo["exploitation.country"],
        ]
    )
    for codes in (citizenship, exploitation):
        tally = codes.value_counts()
        assert tally.height + (namibia > 0) >= 150
        assert tally.filter(pl.col("count") <= 3).height >= 10  # a long tail of rare ones


def test_big_workbooks_continue_on_numbered_sheets(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(25)],
            "text": ["a & b <c>", " lead", "trail ", None, "NA"] * 5,
        }
    )
    path = tmp_path / "big.xlsx"
    with StreamingXlsxWriter(
        path, rows.columns, rows.height, sheet="Cases", text_sheets={"About": ["x"]}, max_rows=11
    ) as book:
        book.write(rows.head(7))
        book.write(rows.tail(18))
    assert fastexcel.read_excel(path).sheet_names == ["Cases", "Cases 2", "Cases 3", "About"]
    assert read_xlsx(path).equals(rows)
    workbook = openpyxl.load_workbook(path)  # the strict reader accepts it too
    assert [ws.max_row for ws in workbook.worksheets] == [11, 11, 6, 1]
    with zipfile.ZipFile(path) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_tiny_and_empty_deliveries_are_still_well_formed(tmp_path: Path) -> None:
    for records in (0, 7):
        written = write_sample(tmp_path / str(records), records, seed=1)
        assert read_xlsx(written["case_agency"]).columns == COLUMNS["case_agency"]
        assert pl.read_csv(written["hotline"], infer_schema=False).columns == COLUMNS["hotline"]
        total = (
            read_xlsx(written["case_agency"]).height
            + pl.read_csv(written["hotline"], infer_schema=False).height
            + len(read_jsonl(written["ngo_network"]))
        )
        assert total == records


def test_a_later_delivery_date_only_changes_the_file_names(
    sample: dict[str, Path], tmp_path: Path
) -> None:
    later = write_sample(tmp_path, RECORDS, seed=7, delivery_date=dt.date(2025, 9, 30))
    assert later["hotline"].name == "hotline_export_20250930.csv"
    assert later["ngo_network"].name == "ngo_network_cases_2025-09.jsonl"
    assert later["hotline"].read_bytes() == sample["hotline"].read_bytes()
    with pytest.raises(ValueError, match="delivery_date"):
        write_sample(tmp_path, RECORDS, delivery_date=dt.date(2024, 1, 1))

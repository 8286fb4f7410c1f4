"""`harmonize`: the shipped crosswalks over small deliveries in the PLAN.md formats.

The fixtures below are hand-made, a few rows each, with the dirt each contributor is
known for, so that every assertion names a behaviour a data engineer would check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import CROSSWALKS, REFERENCE_SAMPLE

from ctdc_assets.crosswalk import (
    Crosswalk,
    Harmonized,
    harmonize,
    load_crosswalk,
    load_crosswalks,
    read_delivery,
)
from ctdc_assets.crosswalk.engine import WITHHELD
from ctdc_assets.quality.gates import run_harmonized_gate
from ctdc_assets.standard import load_standard

SAMPLE = REFERENCE_SAMPLE
KEY = b"test-pseudonym-key-0123456789abcdef"


def assert_in_value_sets(frame: pl.DataFrame) -> None:
    """Every value of every published column is in the standard's value sets."""
    std = load_standard()
    text = frame.select(std.columns).cast(pl.String)
    for var in std.variables:
        values = set(text.get_column(var.name).unique().to_list())
        assert None not in values, f"{var.name} has nulls"
        if var.type == "list":
            labels = set(std.list_labels(var.name))
            for value in values - {std.missing_code}:
                parts = value.split(var.separator or ";")
                assert set(parts) <= labels, f"{var.name}: {value!r}"
        else:
            assert values <= std.allowed_values(var.name), (
                f"{var.name}: {values - std.allowed_values(var.name)}"
            )


def assert_reconciles(result: Harmonized) -> None:
    c = result.counts
    assert (
        c["delivered"] - c["no_consent"] - c["out_of_scope"] - c["duplicates"] == (c["harmonized"])
    )
    assert result.frame.height == c["harmonized"]


def harmonize_checked(
    crosswalk: Crosswalk, raw: pl.DataFrame, counts: dict[str, int] | None = None
) -> Harmonized:
    """`harmonize`; the counts reconcile (and are `counts`), every value is the standard's."""
    result = harmonize(crosswalk, raw, KEY)
    assert_reconciles(result)
    if counts is not None:
        assert result.counts == counts
    assert_in_value_sets(result.frame)
    return result


def row_of(result: Harmonized, case_id: str, contributor: str) -> dict[str, object]:
    key = hmac.new(KEY, f"{contributor}\x1f{case_id}".encode(), hashlib.sha256).hexdigest()
    rows = result.frame.filter(pl.col("record_key") == key)
    assert rows.height == 1, f"{case_id}: {rows.height} rows"
    return rows.row(0, named=True)


def assert_row(result: Harmonized, contributor: str, case_id: str, **expected: object) -> None:
    """The harmonized row of a case holds the `expected` values (others are not checked)."""
    row = row_of(result, case_id, contributor)
    assert {name: row[name] for name in expected} == expected, case_id


def ctdc_delivery(tmp_path: Path, **columns: list[str]) -> Path:
    """The first rows of the real sample, as many as each of `columns` holds, with those
    columns replaced."""
    rows = len(next(iter(columns.values())))
    delivered = pl.read_csv(SAMPLE, infer_schema=False).head(rows)
    delivered = delivered.with_columns(pl.Series(name, values) for name, values in columns.items())
    path = tmp_path / "ctdc.csv"
    delivered.write_csv(path)
    return path


def shelter_crosswalks(tmp_path: Path, text: str) -> Path:
    """A crosswalks folder holding only `shelter.yaml`, with `text`."""
    folder = tmp_path / "crosswalks"
    folder.mkdir()
    (folder / "shelter.yaml").write_text(text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- ctdc_standard


def test_ctdc_standard_identity_on_the_real_sample(crosswalks) -> None:
    crosswalk = crosswalks["ctdc_standard"]
    raw = read_delivery(crosswalk, SAMPLE)
    result = harmonize(crosswalk, raw, KEY)
    delivered = pl.read_csv(SAMPLE, infer_schema=False)
    back = result.frame.select(delivered.columns).cast(pl.String)
    assert back.equals(delivered)  # value for value, as text
    assert result.unmapped.height == 0
    assert result.counts == dict.fromkeys(["no_consent", "out_of_scope", "duplicates"], 0) | {
        "delivered": 1448,
        "harmonized": 1448,
    }
    assert "NA" in back["citizenship"].to_list() or "NA" not in delivered["citizenship"]
    assert back["meansOfControlConcatenated"].str.contains("Physical Abuse").any()
    # identical published rows stay distinct records with distinct, reproducible keys
    assert result.frame["record_key"].n_unique() == 1448
    again = harmonize(crosswalk, raw.reverse(), KEY)
    assert set(again.frame["record_key"]) == set(result.frame["record_key"])
    assert_in_value_sets(result.frame)
    assert result.frame.schema["yearOfRegistration"] == pl.Int16
    assert result.frame.schema["isAbduction"] == pl.Int8


def test_namibia_and_minus_99_survive(tmp_path: Path, crosswalks) -> None:
    path = ctdc_delivery(
        tmp_path, citizenship=["NA", "-99", "00"], CountryOfExploitation=["NA", "NA", "-99"]
    )
    result = harmonize(
        crosswalks["ctdc_standard"], read_delivery(crosswalks["ctdc_standard"], path), KEY
    )
    assert result.frame["citizenship"].to_list() == ["NA", "-99", "00"]
    assert result.frame["CountryOfExploitation"].to_list() == ["NA", "NA", "-99"]


def test_ctdc_standard_inconsistent_lists_are_a_warning_not_a_rewrite(crosswalks) -> None:
    crosswalk = crosswalks["ctdc_standard"]
    result = harmonize(crosswalk, read_delivery(crosswalk, SAMPLE), KEY)
    gate = run_harmonized_gate(
        result.frame, contributor=crosswalk.name, unmapped=result.unmapped, crosswalk=crosswalk
    )
    assert gate.passed
    assert not gate.critical_failures
    warned = {o.id for o in gate.warnings}
    assert "meansOfControlConcatenated.consistent_with_flags" in warned


def test_unknown_value_in_identity_path_is_counted(tmp_path: Path, crosswalks) -> None:
    path = ctdc_delivery(
        tmp_path,
        gender=["Female", "female", "Alien", "Male"],
        typeOfExploitConcatenated=["Sexual exploitation", "Bogus", "-99", "Other"],
    )
    crosswalk = crosswalks["ctdc_standard"]
    result = harmonize(crosswalk, read_delivery(crosswalk, path), KEY)
    assert result.frame["gender"].to_list() == ["Female", "-99", "-99", "Male"]
    lost = {(r["variable"], r["source_value"]): r["rows"] for r in result.unmapped.to_dicts()}
    assert lost == {
        ("gender", "female"): 1,
        ("gender", "Alien"): 1,
        ("typeOfExploitConcatenated", "Bogus"): 1,
    }


# --------------------------------------------------------------------------- case_agency

CASE_COLUMNS = [
    "cas_CaseNumber", "cas_CaseOwner", "prs_Salutation", "prs_FirstName", "prs_SecondName",
    "con_Consent", "prs_Birthdate", "prs_Gender", "prs_Citizenship", "prs_Email",
    "prs_HomePhone", "prs_MobilePhone", "prs_MailingStreet", "prs_MailingCity",
    "prs_MailingState", "prs_MailingPostalCode", "prs_MailingCountry", "vic_TraffickingStatus",
    "vic_MethodOfRecruitment", "vic_MethodsOfControl", "vic_TypeOfExploitation",
    "vic_ForcedLabourIndustry", "vic_TypeOfSexExploitation", "vic_RecruiterRelationship",
    "vic_Abducted", "vic_LocationOfExploitation", "vic_RecruitmentDate",
    "vic_ExploitationStartDate", "cas_RegistrationDate", "cas_LastModifiedDate", "cas_Status",
    "cas_ReferringOrganisation", "cas_IncomingReferralDate", "cas_IncomingReferralDetails",
    "cas_ReasonForCaseClosure",
]  # fmt: skip


def case(number: str, **values: object) -> dict[str, object]:
    base: dict[str, object] = dict.fromkeys(CASE_COLUMNS)
    base |= {
        "cas_CaseNumber": number,
        "prs_FirstName": "CANARY-first",
        "prs_Email": "canary@example.org",
        "cas_IncomingReferralDetails": "Referred by CANARY-7f3a, phone +1 555 0100",
        "con_Consent": "TRUE",
        "prs_Gender": "Feminine",
        "vic_TraffickingStatus": "ActualVictimOfTrafficking",
        "cas_RegistrationDate": "15/06/2017",
        "cas_LastModifiedDate": "20/06/2017",
    }
    return base | values


CASES = [
    case(
        "IOM-2017-000001",
        prs_Birthdate="01/07/1999",  # 17 at registration -> 9--17 Minor
        prs_Citizenship="md",
        vic_MethodsOfControl="PhysicalAbuse;DebtBondage",
        vic_TypeOfExploitation="ForcedLabour;SexualExploitation",
        vic_ForcedLabourIndustry="T_ActivitiesOfHouseholdsAsEmployers",
        vic_TypeOfSexExploitation="Prostitution",
        vic_RecruiterRelationship="Friend;IntimatePartner",
        vic_Abducted="FALSE",
        vic_LocationOfExploitation="RU",
        vic_ExploitationStartDate="01/01/2016",
        vic_RecruitmentDate="01/12/2015",
        cas_LastModifiedDate="01/07/2017",
    ),
    # the same case re-sent with an older modification date: the version above wins
    case("IOM-2017-000001", prs_Gender="Masculine", cas_LastModifiedDate="16/06/2017"),
    case(
        "IOM-2017-000002",
        con_Consent=" yes ",
        prs_Gender="  masculine",
        prs_Birthdate="00/00/0000",
        prs_Citizenship="UKR",
        vic_Abducted="TRUE",
        vic_LocationOfExploitation="NA",
    ),
    case("IOM-2017-000003", con_Consent="FALSE"),
    case("IOM-2017-000004", con_Consent=None),
    case("IOM-2017-000005", vic_TraffickingStatus="NotAVictimOfTrafficking"),
    case(
        "IOM-2017-000006",
        con_Consent="y",
        prs_Gender="NonConforming",
        prs_Birthdate="31/02/1990",  # impossible date: unmapped, value withheld
        prs_Citizenship="XX",
        vic_TypeOfExploitation="ForcedAdoption",
        vic_MethodsOfControl="Whipping;Other",
    ),
]


def write_case_agency(path: Path, rows: list[dict[str, object]], *, sheets: int = 1) -> Path:
    workbook = openpyxl.Workbook()
    about = workbook.active
    about.title = "About"
    about.append(["HTCDS v2.0 export"])
    about.append(["Generated for tests"])
    per_sheet = -(-len(rows) // sheets)
    for index in range(sheets):
        sheet = workbook.create_sheet("Cases" if index == 0 else f"Cases {index + 1}")
        sheet.append(CASE_COLUMNS)
        for row in rows[index * per_sheet : (index + 1) * per_sheet]:
            sheet.append([row[c] for c in CASE_COLUMNS])
    workbook.save(path)
    return path


def test_case_agency(tmp_path: Path, crosswalks) -> None:
    crosswalk = crosswalks["case_agency"]
    raw = read_delivery(
        crosswalk, write_case_agency(tmp_path / "case_agency_2024-01-31.xlsx", CASES)
    )
    assert raw["source_row"].to_list() == list(range(2, 2 + len(CASES)))
    counts = dict(delivered=7, no_consent=2, out_of_scope=1, duplicates=1, harmonized=3)
    result = harmonize_checked(crosswalk, raw, counts)

    assert_row(
        result,
        "case_agency",
        "IOM-2017-000001",
        Datasource="Case Management",
        yearOfRegistration=2017,
        gender="Female",  # the newer version, not the re-sent older one
        ageBroad="9--17",
        majorityStatus="Minor",
        majorityStatusAtExploit="Minor",
        majorityEntry="Minor",
        citizenship="MD",
        meansOfControlConcatenated="Debt bondage;Physical abuse",
        meansOfControlDebtBondage=1,
        meansOfControlThreats=0,  # interview: unlisted means 0
        isForcedLabour=1,
        isSexualExploit=1,
        isSexAndLabour=1,
        typeOfLabourConcatenated="Domestic work",
        typeOfLabourDomesticWork=1,
        typeOfLabourAgriculture=0,
        typeOfSexConcatenated="Prostitution",
        RecruiterRelationship="Intimate Partner; Friend/Acquaintance",
        isAbduction=0,
        CountryOfExploitation="RU",
    )
    assert_row(
        result,
        "case_agency",
        "IOM-2017-000002",
        gender="Male",
        ageBroad="-99",  # 00/00/0000
        majorityStatus="-99",
        citizenship="UA",
        CountryOfExploitation="NA",  # Namibia
        isAbduction=1,
        meansOfControlConcatenated="-99",
        meansOfControlDebtBondage=-99,  # no list: not recorded
        isSexAndLabour=-99,
    )
    assert_row(
        result,
        "case_agency",
        "IOM-2017-000006",
        gender="Transgender/NonConforming",
        citizenship="00",
        typeOfExploitConcatenated="Other",
        meansOfControlConcatenated="Other",
    )

    lost = {
        (r["variable"], r["source_column"], r["source_value"]): r["rows"]
        for r in result.unmapped.to_dicts()
    }
    assert lost[("meansOfControlConcatenated", "vic_MethodsOfControl", "Whipping")] == 1
    # an unusable birthdate is counted, but its value never leaves raw
    assert lost[("ageBroad", "prs_Birthdate", WITHHELD)] == 1
    assert lost[("majorityStatus", "prs_Birthdate", WITHHELD)] == 1
    assert not any("00/00/0000" in str(k) for k in lost)

    text = result.frame.cast(pl.String)
    assert not set(result.frame.columns) & set(crosswalk.identifiers)
    for column in text.columns:
        values = text[column].drop_nulls()
        assert not values.str.contains("CANARY|IOM-2017|@").any(), column


def test_case_agency_sheets_glob_concatenates(tmp_path: Path, crosswalks) -> None:
    crosswalk = crosswalks["case_agency"]
    path = write_case_agency(tmp_path / "case_agency_2024-02-29.xlsx", CASES, sheets=3)
    raw = read_delivery(crosswalk, path)
    assert raw.height == len(CASES)
    assert raw["source_sheet"].unique(maintain_order=True).to_list() == [
        "Cases",
        "Cases 2",
        "Cases 3",
    ]
    assert raw.filter(pl.col("source_sheet") == "Cases 2")["source_row"].to_list() == [2, 3, 4]
    assert harmonize(crosswalk, raw, KEY).counts["harmonized"] == 3


def test_record_key_is_keyed_hmac_and_stable(tmp_path: Path, crosswalks) -> None:
    crosswalk = crosswalks["case_agency"]
    raw = read_delivery(crosswalk, write_case_agency(tmp_path / "c.xlsx", CASES))
    one = harmonize(crosswalk, raw, KEY).frame["record_key"]
    two = harmonize(crosswalk, raw.reverse(), KEY).frame["record_key"]
    other_key = harmonize(crosswalk, raw, b"another key").frame["record_key"]
    assert set(one) == set(two)
    assert not set(one) & set(other_key)
    assert one.str.len_chars().unique().to_list() == [64]


# --------------------------------------------------------------------------- hotline

HOTLINE_COLUMNS = [
    "case_id", "report_date", "caller_phone", "victim_name", "victim_age", "victim_gender",
    "victim_citizenship", "trafficking_type", "industry", "means_of_control",
    "recruiter_relation", "exploitation_country", "state", "narrative",
]  # fmt: skip

HOTLINE_ROWS = [
    ["HL-2016-000001", "03/14/2016", "555-0100", "CANARY-name", "17", "female ", "Mexcio",
     "Sex", "Commercial Sex - Illicit Massage", "Physical Abuse|Emotional Abuse",
     "Intimate partner", "United States", "CA", "Called about CANARY-x, phone 555 0100"],
    ["HL-2016-000002", "07/01/2016", "", "", "18-24", "M", "", "Labor", "Domestic Work", "",
     "Employer", "united states", "TX", ""],
    ["HL-2014-000003", "12/31/2014", "", "", "30", "F", "Unknown", "Sex", "Not specified",
     "", "", "United States", "NY", ""],
    ["HL-2017-000004", "01/05/2017", "", "", "unknown", "Trans woman", "N/A", "Sex and Labor",
     "Commercial Sex - Bar/Strip Club/Cantina", "Monitoring", "Smuggler", "Mexico", "FL", ""],
    ["HL-2017-000004", "02/05/2017", "", "", "45+", "Trans woman", "Phillipines",
     "Sex and Labor", "Commercial Sex - Bar/Strip Club/Cantina", "Monitoring", "", "US",
     "FL", ""],
    ["HL-2018-000005", "05/05/2018", "", "", "", "Unknown", "Philippines", "Unknown",
     "Not specified", "", "Friend", "", "WA", "Multi-line\nnarrative, with comma"],
]  # fmt: skip


def write_hotline(path: Path, rows: list[list[str]] = HOTLINE_ROWS) -> Path:
    pl.DataFrame(rows, schema=HOTLINE_COLUMNS, orient="row").write_csv(path)
    return path


def test_hotline(tmp_path: Path, crosswalks) -> None:
    crosswalk = crosswalks["hotline"]
    raw = read_delivery(crosswalk, write_hotline(tmp_path / "hotline_export_20240131.csv"))
    assert raw["source_row"].to_list() == [2, 3, 4, 5, 6, 7]
    # out of scope: reported in 2014
    counts = dict(delivered=6, no_consent=0, out_of_scope=1, duplicates=1, harmonized=4)
    result = harmonize_checked(crosswalk, raw, counts)
    assert_row(
        result,
        "hotline",
        "HL-2016-000001",
        Datasource="Hotline",
        gender="Female",
        ageBroad="9--17",
        majorityStatus="Minor",
        majorityStatusAtExploit="-99",  # not supplied
        citizenship="MX",  # override for a known misspelling
        meansOfControlConcatenated="Psychological abuse;Physical abuse",
        meansOfControlPhysicalAbuse=1,
        meansOfControlDebtBondage=-99,  # hotline: unlisted is not recorded
        isSexualExploit=1,
        isForcedLabour=0,
        isSexAndLabour=0,
        typeOfSexConcatenated="Prostitution",
        typeOfLabourConcatenated="-99",  # not a labour case
        RecruiterRelationship="Intimate Partner",
        CountryOfExploitation="US",
    )
    assert_row(
        result,
        "hotline",
        "HL-2016-000002",
        ageBroad="-99",  # 18-24 spans three bands
        majorityStatus="Adult",
        citizenship="00",
        typeOfLabourConcatenated="Domestic work",
        meansOfControlConcatenated="-99",
        RecruiterRelationship="Other",  # employer has no CTDC match
    )
    assert_row(
        result,
        "hotline",
        "HL-2017-000004",  # the later version
        citizenship="PH",
        isSexAndLabour=1,
        typeOfExploitConcatenated="Forced labour;Sexual exploitation",
        typeOfLabourConcatenated="-99",
        meansOfControlOther=1,
        RecruiterRelationship="-99",
        ageBroad="-99",
        majorityStatus="Adult",
    )
    assert_row(
        result,
        "hotline",
        "HL-2018-000005",
        gender="Unknown",
        typeOfExploitConcatenated="-99",
        isForcedLabour=-99,
        CountryOfExploitation="00",
    )

    lost = {(r["variable"], r["source_value"]): r["rows"] for r in result.unmapped.to_dicts()}
    assert lost == {("ageBroad", "18-24"): 1, ("ageBroad", "45+"): 1}


# --------------------------------------------------------------------------- ngo_network


def ngo_case(case_id: str, **overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "case": {"id": case_id, "entered": "2019-03-04", "updated": "2019-05-01",
                 "consent_to_share": True},
        "person": {"name": {"given": "CANARY-given", "family": "Doe"},
                   "date_of_birth": "1996-05-01", "age_at_intake": 22, "sex": "F",
                   "country_of_origin": "KHM", "phone": "+855 12 345 678"},
        "exploitation": {"types": ["forced labour"], "sectors": ["fishing"],
                         "means_of_control": ["debt bondage", "withholding documents"],
                         "country": "Thailand", "minor_at_start": False},
        "recruiter": {"types": ["broker", "friend"]},
        "notes": "Met CANARY-notes at the port",
    }  # fmt: skip
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        target = record
        for part in parents:
            target = target[part]  # type: ignore[assignment]
        target[leaf] = value
    return record


NGO_CASES = [
    ngo_case("LS-00000001"),
    ngo_case(
        "LS-00000002",
        person__date_of_birth=None,
        person__age_at_intake=16,
        person__sex="male",
        person__country_of_origin="Viet Nam",
        exploitation__types=["sexual exploitation", "forced labour"],
        exploitation__sectors=[],
        exploitation__means_of_control=[],
        exploitation__country="THA",
        exploitation__minor_at_start=True,
        recruiter__types=["agent"],
    ),
    ngo_case("LS-00000003", case__consent_to_share=False),
    ngo_case("LS-00000001", case__updated="2019-04-01", person__sex="M"),  # older re-send
    ngo_case(
        "LS-00000004",
        person__date_of_birth=None,
        person__age_at_intake=None,
        person__sex=None,
        person__country_of_origin=None,
        exploitation__minor_at_start=None,
        exploitation__country="Atlantis",
        recruiter__types=["unknown"],
    ),
]


def write_ngo(path: Path, records: list[dict[str, object]] = NGO_CASES) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_ngo_network(tmp_path: Path, crosswalks) -> None:
    crosswalk = crosswalks["ngo_network"]
    raw = read_delivery(crosswalk, write_ngo(tmp_path / "ngo_network_cases_2024-01.jsonl"))
    assert raw["source_row"].to_list() == [1, 2, 3, 4, 5]
    assert raw["exploitation.types"][1] == "sexual exploitation;forced labour"
    assert raw["case.consent_to_share"][0] == "true"
    assert raw["person.age_at_intake"][1] == "16"
    counts = dict(delivered=5, no_consent=1, out_of_scope=0, duplicates=1, harmonized=3)
    result = harmonize_checked(crosswalk, raw, counts)
    assert_row(
        result,
        "ngo_network",
        "LS-00000001",
        gender="Female",
        yearOfRegistration=2019,
        ageBroad="21--23",  # from the date of birth
        majorityStatus="Adult",
        majorityStatusAtExploit="Adult",
        citizenship="KH",
        CountryOfExploitation="TH",
        typeOfLabourConcatenated="Aquafarming",
        meansOfControlConcatenated="Debt bondage;Withholds documents",
        meansOfControlThreats=0,
        RecruiterRelationship="Friend/Acquaintance; Other",
        recruiterRelationOther=1,  # broker -> Other
        recruiterRelationFamily=0,
    )
    assert_row(
        result,
        "ngo_network",
        "LS-00000002",
        gender="Male",
        ageBroad="9--17",  # from the age
        majorityStatus="Minor",
        majorityStatusAtExploit="Minor",
        citizenship="VN",
        isSexAndLabour=1,
        typeOfLabourConcatenated="-99",  # empty list: not recorded
        meansOfControlDebtBondage=-99,
        RecruiterRelationship="Other",
    )
    assert_row(
        result,
        "ngo_network",
        "LS-00000004",
        gender="-99",
        ageBroad="-99",
        citizenship="00",
        CountryOfExploitation="00",
        RecruiterRelationship="Not Specified",
    )
    lost = {(r["variable"], r["source_value"]): r["rows"] for r in result.unmapped.to_dicts()}
    assert lost == {("CountryOfExploitation", "Atlantis"): 1}


# --------------------------------------------------------------------------- new contributor


def test_a_fourth_contributor_is_only_configuration(tmp_path: Path) -> None:
    folder = shelter_crosswalks(
        tmp_path,
        """\
description: A shelter's semicolon-separated register in Latin-1.
read: {format: csv, delimiter: ';', encoding: latin-1}
case_id: ref
identifiers: [ref, nom]
filters:
  consent: {column: accord, accepted: [oui]}
variables:
  Datasource: {constant: Case Management}
  yearOfRegistration: {year: {column: arrivee, date_format: '%d.%m.%Y'}}
  gender: {map: {column: sexe, values: {femme: Female, homme: Male}}}
  ageBroad: {age: {years: age}}
  majorityStatus: {majority: {years: age}}
  citizenship: {country: {column: pays, overrides: {Cote d'Ivoire: CI}}}
  typeOfExploitConcatenated:
    list:
      column: formes
      separator: ','
      values: {travail: Forced labour, sexe: Sexual exploitation, mariage: Forced marriage}
""",
    )
    delivery = tmp_path / "shelter_2024.csv"
    delivery.write_bytes(
        "ref;nom;accord;arrivee;sexe;age;pays;formes\n"
        "S1;Zoé;oui;03.02.2021;Femme;34;Côte d'Ivoire;travail, mariage\n"
        "S2;Léa;non;03.02.2021;femme;20;France;sexe\n"
        "S3;Ana;OUI;11.11.2022;homme;8;Sénégal;\n".encode("latin-1")
    )
    crosswalk = load_crosswalks(folder)["shelter"]
    result = harmonize_checked(crosswalk, read_delivery(crosswalk, delivery))
    assert result.counts["no_consent"] == 1
    rows = result.frame.select(
        "yearOfRegistration", "gender", "ageBroad", "majorityStatus", "citizenship",
        "typeOfExploitConcatenated", "isForcedLabour", "isForcedMarriage", "isSexualExploit",
    ).rows()  # fmt: skip
    assert rows == [
        (2021, "Female", "30--38", "Adult", "CI", "Forced labour;Forced marriage", 1, 1, 0),
        (2022, "Male", "0--8", "Minor", "SN", "-99", -99, -99, -99),
    ]
    assert result.unmapped.height == 0


def test_unit_raw_without_provenance_columns_gets_nulls(crosswalks) -> None:
    crosswalk = crosswalks["ngo_network"]
    raw = pl.DataFrame(
        {c: ["x"] for c in crosswalk.used_columns()} | {"case.consent_to_share": ["true"]}
    )
    result = harmonize(crosswalk, raw, KEY)
    assert result.frame.columns == [*load_standard().columns, *load_standard().internal_columns]
    assert result.frame["delivery_date"].to_list() == [None]
    assert result.frame["contributor"].to_list() == ["ngo_network"]


def test_crosswalk_loaded_from_a_single_file(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text((CROSSWALKS / "hotline.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_crosswalk(path).name == "hotline"


def test_unmapped_values_are_kept_as_delivered_for_the_engineer(tmp_path: Path, crosswalks) -> None:
    """They stay in the warehouse (`ctdc findings`); the redaction applies where they leave."""
    path = ctdc_delivery(tmp_path, gender=["call +1 555 010 0100", "jo@example.org", "31/02/2020"])
    crosswalk = crosswalks["ctdc_standard"]
    result = harmonize(crosswalk, read_delivery(crosswalk, path), KEY)
    shown = set(result.unmapped["source_value"])
    assert shown == {"call +1 555 010 0100", "jo@example.org", "31/02/2020"}
    assert result.unmapped["rows"].sum() == 3


SHELTER_BLANKS = """\
read: {format: csv, delimiter: ';'}
case_id: ref
identifiers: [ref]
variables:
  yearOfRegistration: {year: {column: arrivee, date_format: '%d.%m.%Y', missing: '2020'}}
  isAbduction: {flag: {column: enleve, missing: '0'}}
  ageBroad: {age: {years: age, missing: '48+'}}
  majorityStatus: {majority: {years: age, missing: Unknown}}
  meansOfControlConcatenated:
    list:
      column: controle
      separator: ','
      values: {dette: Debt bondage, menaces: Threats}
      missing: 0
  typeOfExploitConcatenated:
    list:
      column: formes
      values: {travail: Forced labour}
"""


def test_a_crosswalk_says_what_a_blank_means(tmp_path: Path) -> None:
    """Blank cells become what the rule's `missing` says; a value that cannot be read is
    still -99 (and listed), and a rule without `missing` keeps -99 for blanks."""
    folder = shelter_crosswalks(tmp_path, SHELTER_BLANKS)
    delivery = tmp_path / "shelter.csv"
    delivery.write_text(
        "ref;arrivee;enleve;age;controle;formes\n"
        "S1;03.02.2021;oui;34;dette,menaces;travail\n"
        "S2;;;;;\n"
        "S3;garbage;peut-etre;about twenty;n/a;\n",
        encoding="utf-8",
    )
    crosswalk = load_crosswalks(folder)["shelter"]
    frame = harmonize(crosswalk, read_delivery(crosswalk, delivery), KEY).frame
    columns = (
        "yearOfRegistration", "isAbduction", "ageBroad", "majorityStatus",
        "meansOfControlDebtBondage", "meansOfControlThreats", "meansOfControlConcatenated",
        "isForcedLabour", "typeOfExploitConcatenated",
    )  # fmt: skip
    s1, s2, s3 = frame.select(columns).rows()
    assert s1[4:7] == (1, 1, "Debt bondage;Threats")
    # Blank: each rule's `missing`; the multi-select's flags "none of these" (0), its
    # concatenated labels empty (-99); the list without `missing` stays not recorded.
    assert s2 == (2020, 0, "48+", "Unknown", 0, 0, "-99", -99, "-99")
    # Unreadable values are not blanks: -99 whatever `missing` says (a missing
    # spelling such as `n/a` is a blank).
    assert s3 == (-99, -99, "-99", "-99", 0, 0, "-99", -99, "-99")
    assert_in_value_sets(frame)


def test_a_blank_target_outside_the_standard_is_refused(tmp_path: Path) -> None:
    folder = shelter_crosswalks(tmp_path, SHELTER_BLANKS.replace("missing: '0'", "missing: 'no'"))
    with pytest.raises(ValueError, match=r"isAbduction\.flag\.missing: 'no' is not a value"):
        load_crosswalks(folder)

"""case_agency: an IOM-like case-management export in the HTCDS v2.0 spreadsheet layout."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from ctdc_assets.sample_data import _base as b
from ctdc_assets.sample_data import countries as places
from ctdc_assets.sample_data import vocab as v

NAME = "case_agency"
INDEX = 0
SHEET = "Cases"
DATE_FORMAT = "%d/%m/%Y"

COLUMNS = [
    "cas_CaseNumber",
    "cas_CaseOwner",
    "prs_Salutation",
    "prs_FirstName",
    "prs_SecondName",
    "con_Consent",
    "prs_Birthdate",
    "prs_Gender",
    "prs_Citizenship",
    "prs_Email",
    "prs_HomePhone",
    "prs_MobilePhone",
    "prs_MailingStreet",
    "prs_MailingCity",
    "prs_MailingState",
    "prs_MailingPostalCode",
    "prs_MailingCountry",
    "vic_TraffickingStatus",
    "vic_MethodOfRecruitment",
    "vic_MethodsOfControl",
    "vic_TypeOfExploitation",
    "vic_ForcedLabourIndustry",
    "vic_TypeOfSexExploitation",
    "vic_RecruiterRelationship",
    "vic_Abducted",
    "vic_LocationOfExploitation",
    "vic_RecruitmentDate",
    "vic_ExploitationStartDate",
    "cas_RegistrationDate",
    "cas_LastModifiedDate",
    "cas_Status",
    "cas_ReferringOrganisation",
    "cas_IncomingReferralDate",
    "cas_IncomingReferralDetails",
    "cas_ReasonForCaseClosure",
]

IDENTIFIERS = [
    "cas_CaseNumber",
    "cas_CaseOwner",
    "prs_Salutation",
    "prs_FirstName",
    "prs_SecondName",
    "prs_Birthdate",
    "prs_Email",
    "prs_HomePhone",
    "prs_MobilePhone",
    "prs_MailingStreet",
    "prs_MailingCity",
    "prs_MailingState",
    "prs_MailingPostalCode",
    "prs_MailingCountry",
    "cas_IncomingReferralDetails",
]

REGISTRATION_YEARS = {
    2002: 2.0, 2003: 2.0, 2004: 2.5, 2005: 3.5, 2006: 3.5, 2007: 3.5, 2008: 3.0, 2009: 3.0,
    2010: 3.0, 2011: 3.2, 2012: 3.2, 2013: 3.2, 2014: 3.3, 2015: 3.5, 2016: 12.0, 2017: 7.0,
    2018: 6.0, 2019: 6.0, 2020: 4.0, 2021: 4.5, 2022: 6.0, 2023: 6.0, 2024: 5.5,
}  # fmt: skip
DATA_END = b.day_number(dt.date(2024, 12, 31))  # last registration
MODIFIED_END = b.day_number(dt.date(2025, 1, 31))  # last ordinary modification
RESENT_END = b.day_number(dt.date(2025, 2, 28))  # last modification of a re-sent case

CITIZENSHIP = places.CountryDistribution.zipf(
    {
        "UA": 15.0, "MD": 12.0, "PH": 12.0, "ID": 5.0, "KH": 3.5, "MM": 3.5, "BY": 3.0,
        "RO": 2.5, "UZ": 3.0, "KG": 2.5, "NG": 2.5, "VN": 2.0, "HT": 1.5, "ET": 1.5, "CO": 1.2,
        "BD": 1.2, "NP": 1.2, "KZ": 1.0, "TJ": 1.0, "AF": 1.0, "GH": 1.0, "LK": 0.8, "BG": 0.8,
        "AL": 0.7, "AM": 0.6, "GE": 0.6, "RU": 0.6, "LA": 0.6, "TH": 0.6, "IN": 0.6,
    },
)  # fmt: skip
DESTINATION = places.CountryDistribution.zipf(
    {
        "RU": 18.0, "TR": 6.0, "AE": 6.0, "MY": 5.0, "TH": 4.5, "SA": 4.0, "PL": 3.5,
        "QA": 3.5, "KZ": 3.0, "ID": 2.5, "CN": 2.5, "ZA": 2.5, "DE": 2.5, "IT": 2.5, "TT": 2.0,
        "LB": 2.0, "KW": 2.0, "CZ": 1.8, "US": 1.5, "JO": 1.5, "CY": 1.2, "GB": 1.2, "IL": 1.0,
        "OM": 1.0, "BH": 0.8, "GR": 0.8, "ES": 0.8, "UA": 0.8, "MD": 0.8, "PH": 0.6,
    },
)  # fmt: skip
PHONE_CODES = ["380", "373", "63", "62", "855", "95", "375", "40", "998", "996", "234", "7"]
EMAIL_DOMAINS = ["mail.example", "example.com", "example.org", "inbox.example"]
PROVINCES = ["Kyiv Oblast", "Odesa Oblast", "Metro Manila", "Cebu", "West Java", "Chui"]

# Planted dirt: values cycled into a few rows so every spelling appears.
CONSENT_NO = ["FALSE", "No", "n", "false", "FALSE", "FALSE"]  # distinct ones first
BIRTHDATE_MISSING = ["00/00/0000", "N/A", "unknown", "-"]
GENDER_MISSING = [None, "N/A", "-", "unknown", "none"]
COUNTRY_MISSING = ["XX", None, "unknown", "N/A", "-", "none"]
COUNTRY_NOT_ISO = ["UK", "ZZ", "XK", "EL"]
COUNTRY_AS_NAME = ["Ukraine", "Moldova", "Phillipines", "Ukriane", "Moldavia", "Viet Nam"]
INDUSTRY_UNKNOWN = ["T_Households", "Fishing", "Construction work"]
ABDUCTED_VARIANTS = ["Yes", "No", "true", "0"]

_CASEWORKERS = [
    f"{given[0]}. {family}"
    for given, family in zip(
        b.FEMALE_GIVEN[::2] + b.MALE_GIVEN[::3], b.FAMILY[::-1] * 2, strict=False
    )
]


def generate(seed: int, chunk: int, n: int, year_counters: dict[int, int]) -> pl.DataFrame:
    """n rows of the delivery (re-sent duplicates included); updates year_counters."""
    rng = b.rng_for(seed, INDEX, chunk)
    n_dup = min(max(2, round(0.005 * n)), n // 4)
    m = n - n_dup
    when = _when(rng, m)
    what = _what(rng, m, when["female"])
    who = _who(rng, m, when, what)
    frame = _frame(rng, m, when, what, who, year_counters)
    frame = _plant_dirt(rng, frame)
    return pl.concat([frame, _resent(rng, frame, when["modified"], n_dup)])


def _when(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """Who (gender) and when: registration, birth, exploitation, recruitment, referral."""
    years = b.draw_years(rng, REGISTRATION_YEARS, m)
    reg = np.minimum(b.days_in_years(rng, years), DATA_END)
    gender_idx = rng.choice(len(v.HTCDS_GENDER), size=m, p=b.normalised([*v.HTCDS_GENDER.values()]))
    female = np.isin(gender_idx, [0, 2]) | (np.isin(gender_idx, [4, 5]) & (rng.random(m) < 0.6))
    age_days = b.draw_ages_days(rng, v.AGE_BANDS, v.AGE_BAND_WEIGHTS[NAME], m)
    birth = reg - age_days
    birth_known = rng.random(m) < 0.70
    year_only = rng.random(m) < 0.12  # only the year was known: recorded as 1 January
    birth_year = birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    birth_shown = np.where(year_only, b.year_start_days(birth_year), birth)

    # exploitation started before registration and after birth; recruitment shortly before
    duration = (rng.exponential(420, m) + 7).astype(np.int64)
    start = reg - np.minimum(duration, (0.9 * (reg - birth)).astype(np.int64))
    recruited = start - rng.integers(0, 120, size=m)
    recruited = np.maximum(recruited, birth + (start - birth) // 2)
    modified = b.later(rng, reg, 900, MODIFIED_END)
    referral = reg - rng.integers(0, 45, size=m)
    return {
        "years": years,
        "reg": reg,
        "gender_idx": gender_idx,
        "female": female,
        "birth_known": birth_known,
        "birth_shown": birth_shown,
        "start": start,
        "recruited": recruited,
        "modified": modified,
        "referral": referral,
    }


def _what(rng: np.random.Generator, m: int, female: np.ndarray) -> dict[str, Any]:
    """What happened: exploitation, control, recruitment, countries, the case's status."""
    group = np.where(female, "female", "male")
    types = b.draw_by_group(rng, group, v.HTCDS_TYPE_OF_EXPLOITATION)
    types = b.blank_out(types, rng.random(m) < 0.88)
    labour = types.str.contains("|".join(v.HTCDS_LABOUR_TYPES)).fill_null(False).to_numpy()
    sexual = types.str.contains("SexualExploitation").fill_null(False).to_numpy()
    industry = b.blank_out(
        b.draw(rng, v.HTCDS_FORCED_LABOUR_INDUSTRY, m), labour & (rng.random(m) < 0.8)
    )
    sex_type = b.multi_select(
        rng, v.HTCDS_TYPE_OF_SEX_EXPLOITATION, sexual & (rng.random(m) < 0.7), ";"
    )
    control = b.multi_select(
        rng,
        v.HTCDS_METHODS_OF_CONTROL,
        rng.random(m) < 0.35,
        ";",
        boost={"SexualAbuse": np.where(sexual, 0.5, 0.06)},
    )
    recruitment = b.multi_select(rng, v.HTCDS_METHOD_OF_RECRUITMENT, rng.random(m) < 0.45, ";")
    recruiter = b.multi_select(rng, v.HTCDS_RECRUITER_RELATIONSHIP, rng.random(m) < 0.40, ";")
    abducted = b.draw(rng, {"TRUE": 3.0, "FALSE": 57.0, "": 40.0}, m)

    citizenship = b.lookup(CITIZENSHIP.codes, CITIZENSHIP.draw(rng, m))
    destination = b.lookup(DESTINATION.codes, DESTINATION.draw(rng, m))
    internal = pl.Series(rng.random(m) < 0.45)  # exploited in their own country
    exploited_in = pl.select(pl.when(internal).then(citizenship).otherwise(destination))
    exploited_in = exploited_in.to_series()
    location = b.blank_out(exploited_in, rng.random(m) < 0.72)

    status = b.draw(rng, v.HTCDS_CASE_STATUS, m)
    closed = status.str.starts_with("Closed").to_numpy()
    reason = b.blank_out(b.pick(rng, v.CASE_CLOSURE_REASONS, m), closed & (rng.random(m) < 0.8))
    referred = rng.random(m) < 0.6
    referring = b.blank_out(b.pick(rng, v.REFERRING_ORGANISATIONS, m), referred)
    return {
        "types": types,
        "industry": industry,
        "sex_type": sex_type,
        "control": control,
        "recruitment": recruitment,
        "recruiter": recruiter,
        "abducted": abducted,
        "citizenship": citizenship,
        "exploited_in": exploited_in,
        "location": location,
        "status": status,
        "reason": reason,
        "referred": referred,
        "referring": referring,
    }


def _who(
    rng: np.random.Generator, m: int, when: dict[str, np.ndarray], what: dict[str, Any]
) -> dict[str, Any]:
    """The identifiers: names, phones, e-mail, address, and the referral's free text."""
    female = when["female"]
    first = b.given_names(rng, female)
    second = b.family_names(rng, m)
    mobile = b.phones(rng, m, PHONE_CODES)
    other_phone = b.phones(rng, m, PHONE_CODES)
    owner = b.pick(rng, _CASEWORKERS, m)
    salutation = pl.select(
        pl.when(pl.Series(female))
        .then(b.pick(rng, ["Ms.", "Mrs.", "Miss", "Ms"], m))
        .otherwise(b.pick(rng, ["Mr.", "Mr"], m))
    ).to_series()
    email = pl.select(
        b.text(
            first.str.to_lowercase(),
            ".",
            second.str.to_lowercase(),
            b.digits(rng, m, 2),
            "@",
            b.pick(rng, EMAIL_DOMAINS, m),
        )
    ).to_series()
    has_address = rng.random(m) < 0.45
    house = pl.Series(rng.integers(1, 200, size=m)).cast(pl.String)
    street = pl.select(b.text(house, " ", b.pick(rng, b.STREETS, m))).to_series()
    birth_text = b.format_days(when["birth_shown"], DATE_FORMAT)
    relative = b.given_names(rng, rng.random(m) < 0.5)
    city = b.pick(rng, b.CITIES, m)
    details = pl.select(
        b.choose_template(
            rng,
            [
                b.text("Referred by ", what["referring"].fill_null("police"), "; contact ", owner)
                + b.text(" at ", other_phone, ". ", first, " ", second)
                + b.text(" was identified in ", city, "."),
                b.text(first, " ", second, " (mobile ", mobile, ") asked for shelter and care."),
                b.text("Identified during a labour inspection. ", first, " ", second)
                + b.text(", born ", birth_text, ", sister reachable on ", other_phone, "."),
                b.text("Hotline call from ", relative, " ", second, " about ", first)
                + b.text("; call back ", other_phone, "."),
            ],
            m,
        )
    ).to_series()
    return {
        "first": first,
        "second": second,
        "mobile": mobile,
        "other_phone": other_phone,
        "owner": owner,
        "salutation": salutation,
        "email": email,
        "has_address": has_address,
        "street": street,
        "birth_text": birth_text,
        "details": details,
    }


def _frame(
    rng: np.random.Generator,
    m: int,
    when: dict[str, np.ndarray],
    what: dict[str, Any],
    who: dict[str, Any],
    year_counters: dict[int, int],
) -> pl.DataFrame:
    """The delivery's columns, in order (the last draws decide which cells are blank)."""
    has_address = who["has_address"]
    referred = what["referred"]
    return pl.DataFrame(
        {
            "cas_CaseNumber": b.numbered_by_year("IOM", when["years"], year_counters),
            "cas_CaseOwner": who["owner"],
            "prs_Salutation": b.blank_out(who["salutation"], rng.random(m) < 0.65),
            "prs_FirstName": who["first"],
            "prs_SecondName": b.blank_out(who["second"], rng.random(m) < 0.97),
            "con_Consent": b.draw(rng, {"TRUE": 88.0, "Yes": 6.0, "y": 2.0, "True": 1.0}, m),
            "prs_Birthdate": b.blank_out(who["birth_text"], when["birth_known"]),
            "prs_Gender": b.lookup(list(v.HTCDS_GENDER), when["gender_idx"]),
            "prs_Citizenship": what["citizenship"],
            "prs_Email": b.blank_out(who["email"], rng.random(m) < 0.4),
            "prs_HomePhone": b.blank_out(who["other_phone"], rng.random(m) < 0.18),
            "prs_MobilePhone": b.blank_out(who["mobile"], rng.random(m) < 0.62),
            "prs_MailingStreet": b.blank_out(who["street"], has_address),
            "prs_MailingCity": b.blank_out(b.pick(rng, b.CITIES, m), has_address),
            "prs_MailingState": b.blank_out(
                b.pick(rng, PROVINCES, m), has_address & (rng.random(m) < 0.5)
            ),
            "prs_MailingPostalCode": b.blank_out(b.digits(rng, m, 5), has_address),
            "prs_MailingCountry": b.blank_out(
                pl.select(
                    pl.when(pl.Series(rng.random(m) < 0.7))
                    .then(what["citizenship"])
                    .otherwise(what["exploited_in"])
                ).to_series(),
                has_address,
            ),
            "vic_TraffickingStatus": b.draw(rng, v.HTCDS_TRAFFICKING_STATUS, m),
            "vic_MethodOfRecruitment": what["recruitment"],
            "vic_MethodsOfControl": what["control"],
            "vic_TypeOfExploitation": what["types"],
            "vic_ForcedLabourIndustry": what["industry"],
            "vic_TypeOfSexExploitation": what["sex_type"],
            "vic_RecruiterRelationship": what["recruiter"],
            "vic_Abducted": what["abducted"],
            "vic_LocationOfExploitation": what["location"],
            "vic_RecruitmentDate": b.format_days(
                when["recruited"], DATE_FORMAT, rng.random(m) < 0.3
            ),
            "vic_ExploitationStartDate": b.format_days(
                when["start"], DATE_FORMAT, rng.random(m) < 0.4
            ),
            "cas_RegistrationDate": b.format_days(when["reg"], DATE_FORMAT),
            "cas_LastModifiedDate": b.format_days(when["modified"], DATE_FORMAT),
            "cas_Status": what["status"],
            "cas_ReferringOrganisation": what["referring"],
            "cas_IncomingReferralDate": b.format_days(
                when["referral"], DATE_FORMAT, referred & (rng.random(m) < 0.85)
            ),
            "cas_IncomingReferralDetails": b.blank_out(who["details"], rng.random(m) < 0.45),
            "cas_ReasonForCaseClosure": what["reason"],
        }
    )


def _plant_dirt(rng: np.random.Generator, frame: pl.DataFrame) -> pl.DataFrame:
    m = frame.height
    cols = {name: frame[name] for name in frame.columns}
    pickers = b.RowPicker.for_columns(rng, m, frame.columns)

    def take(name: str, rate: float, minimum: int) -> np.ndarray:
        return pickers[name].take(rate, minimum)

    cols["con_Consent"] = b.plant(cols["con_Consent"], take("con_Consent", 0.025, 4), CONSENT_NO)
    cols["con_Consent"] = b.plant(cols["con_Consent"], take("con_Consent", 0.005, 1), [None])
    birth = cols["prs_Birthdate"]
    birth = b.plant(birth, take("prs_Birthdate", 0.02, 4), BIRTHDATE_MISSING)
    cols["prs_Birthdate"] = b.plant(birth, take("prs_Birthdate", 0.001, 1), ["01/01/1900"])
    gender = b.case_variants(cols["prs_Gender"], take("prs_Gender", 0.03, 4))
    cols["prs_Gender"] = b.plant(gender, take("prs_Gender", 0.01, 5), GENDER_MISSING)

    for name in ("prs_Citizenship", "vic_LocationOfExploitation"):
        series = b.case_variants(cols[name], take(name, 0.02, 4))
        series = b.plant(series, take(name, 0.03, 6), COUNTRY_MISSING)
        alpha3_rows = take(name, 0.02, 2)
        alpha3_rows = alpha3_rows[series.gather(alpha3_rows).is_not_null().to_numpy()]
        series = b.plant_series(series, alpha3_rows, places.to_alpha3(series.gather(alpha3_rows)))
        series = b.plant(series, take(name, 0.003, 4), COUNTRY_NOT_ISO)
        series = b.plant(series, take(name, 0.004, 6), COUNTRY_AS_NAME)
        cols[name] = b.plant(series, take(name, 0.001, 2), ["NA"])  # Namibia, not missing

    for name in ("vic_TypeOfExploitation", "vic_MethodsOfControl"):
        series = cols[name]
        rows = take(name, 0.02, 4)
        rows = rows[series.gather(rows).is_not_null().to_numpy()]
        spaced = series.gather(rows).str.replace_all(";", "; ", literal=True)
        trailing = series.gather(rows) + ";"
        mixed = pl.select(
            pl.when(pl.Series(np.arange(rows.size) % 2 == 0)).then(spaced).otherwise(trailing)
        ).to_series()
        series = b.plant_series(series, rows, mixed)
        cols[name] = b.case_variants(series, take(name, 0.01, 4))

    industry = b.case_variants(
        cols["vic_ForcedLabourIndustry"], take("vic_ForcedLabourIndustry", 0.01, 4)
    )
    cols["vic_ForcedLabourIndustry"] = b.plant(
        industry, take("vic_ForcedLabourIndustry", 0.003, 3), INDUSTRY_UNKNOWN
    )
    cols["vic_Abducted"] = b.plant(
        cols["vic_Abducted"], take("vic_Abducted", 0.01, 4), ABDUCTED_VARIANTS
    )
    cols["cas_Status"] = b.case_variants(cols["cas_Status"], take("cas_Status", 0.01, 4))

    b.plant_canaries(
        rng,
        cols,
        IDENTIFIERS,
        pickers,
        email="prs_Email",
        free_text={"cas_IncomingReferralDetails": ("Referral by phone.", " Contact person: ")},
    )
    return pl.DataFrame(cols)


def _resent(
    rng: np.random.Generator, frame: pl.DataFrame, modified: np.ndarray, count: int
) -> pl.DataFrame:
    """Cases the agency sent again after an update: same case number, later modification."""
    rows = np.sort(rng.choice(frame.height, size=count, replace=False))
    later = b.later(rng, modified[rows] + 1, 28, RESENT_END)
    closes = rng.random(count) < 0.5
    resent = frame[rows].with_columns(
        cas_LastModifiedDate=b.format_days(later, DATE_FORMAT),
        cas_Status=pl.when(pl.Series(closes)).then(pl.lit("Closed")).otherwise("cas_Status"),
        cas_ReasonForCaseClosure=pl.when(pl.Series(closes))
        .then(pl.lit("Assistance completed"))
        .otherwise("cas_ReasonForCaseClosure"),
    )
    return resent


def about_lines(records: int, seed: int) -> list[str]:
    return [
        "Case management export (HTCDS v2.0 layout)",
        "Synthetic sample delivery made by ctdc_assets.sample_data: no real person is described.",
        f"Rows: {records}; generator seed: {seed}.",
        "Dates are day/month/year text. Multi-select fields join HTCDS value names with ';'.",
        "Field names follow the Human Trafficking Case Data Standard (HTCDS) by IOM, CC BY 4.0.",
    ]

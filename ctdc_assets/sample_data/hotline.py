"""hotline: a Polaris-like US hotline export (CSV), US legal definitions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from ctdc_assets.sample_data import _base as b
from ctdc_assets.sample_data import countries as places
from ctdc_assets.sample_data import vocab as v

NAME = "hotline"
INDEX = 1
DATE_FORMAT = "%m/%d/%Y"

COLUMNS = [
    "case_id",
    "report_date",
    "caller_phone",
    "victim_name",
    "victim_age",
    "victim_gender",
    "victim_citizenship",
    "trafficking_type",
    "industry",
    "means_of_control",
    "recruiter_relation",
    "exploitation_country",
    "state",
    "narrative",
]
IDENTIFIERS = ["case_id", "caller_phone", "victim_name", "narrative"]

REPORT_YEARS = {
    2015: 6.0, 2016: 8.0, 2017: 10.0, 2018: 11.0, 2019: 12.0, 2020: 11.0, 2021: 11.0,
    2022: 11.0, 2023: 11.0, 2024: 9.0,
}  # fmt: skip
EARLY_YEARS = (2007, 2014)  # the ~1% of reports before the hotline's data-sharing start
DATA_END = b.day_number(dt.date(2024, 12, 31))

CITIZENSHIP = places.CountryDistribution.zipf(
    {
        "US": 55.0, "MX": 14.0, "PH": 3.0, "GT": 3.0, "HN": 3.0, "CN": 2.5, "SV": 2.0,
        "IN": 1.5, "KR": 1.0, "TH": 1.0, "VN": 1.0, "NG": 0.8, "HT": 0.6, "JM": 0.6, "VE": 0.5,
        "CO": 0.5, "DO": 0.4, "RU": 0.4, "UA": 0.4, "CU": 0.3,
    }
)  # fmt: skip
ABROAD = places.CountryDistribution.zipf(
    {"MX": 30.0, "CA": 12.0, "PH": 6.0, "GT": 5.0, "DO": 4.0, "HN": 4.0, "CN": 3.0, "IN": 3.0}
)
TYPE_BY_GENDER = {
    "female": {"Sex": 80.0, "Labor": 9.0, "Sex and Labor": 5.0, "Other": 1.5, "Unknown": 4.5},
    "male": {"Sex": 28.0, "Labor": 57.0, "Sex and Labor": 5.0, "Other": 3.0, "Unknown": 7.0},
}
RECRUITER_BY_KIND = {
    "sex": {
        "Intimate partner": 26.0, "Family member": 15.0, "Friend": 6.0, "Employer": 3.0,
        "Smuggler": 1.0, "Other": 6.0, "": 43.0,
    },
    "labor": {
        "Intimate partner": 3.0, "Family member": 10.0, "Friend": 5.0, "Employer": 30.0,
        "Smuggler": 5.0, "Other": 7.0, "": 40.0,
    },
}  # fmt: skip

# Planted dirt.
GENDER_VARIANTS = ["F", "M", "female ", "male", " Female", "FEMALE"]
MISSING = ["Unknown", "N/A", "unknown", "-", "none", "Not specified"]
AGE_MISSING = ["unknown", "Unknown", "N/A", "-"]
AGE_IMPLAUSIBLE = ["150", "217"]
CITIZENSHIP_MISSPELLED = [
    "Phillipines", "Mexcio", "Guatamala", "Hondoras", "Columbia", "El Salvadore", "Vietnem",
    "Inida",
]  # fmt: skip
US_VARIANTS = ["USA", "US", "United States of America", "united states", "U.S.", "United States "]
STATE_NAMES = ["California", "Texas", "florida"]


def generate(seed: int, chunk: int, n: int, year_counters: dict[int, int]) -> pl.DataFrame:
    """n rows of the export (duplicated case ids included); updates year_counters."""
    rng = b.rng_for(seed, INDEX, chunk)
    n_dup = min(max(2, round(0.005 * n)), n // 4)
    m = n - n_dup

    years = b.draw_years(rng, REPORT_YEARS, m)
    early = b.RowPicker.for_columns(rng, m, ["report_date"])["report_date"].take(0.01, 2)
    years[early] = rng.integers(EARLY_YEARS[0], EARLY_YEARS[1] + 1, size=early.size)
    reported = np.minimum(b.days_in_years(rng, years), DATA_END)
    gender_idx = rng.choice(
        len(v.HOTLINE_GENDER), size=m, p=b.normalised([*v.HOTLINE_GENDER.values()])
    )
    female = np.isin(gender_idx, [0, 2]) | (np.isin(gender_idx, [4, 5]) & (rng.random(m) < 0.7))
    what = _what(rng, m, female)
    where = _where(rng, m)
    who = _who(rng, m, female, what, where)

    frame = pl.DataFrame(
        {
            "case_id": b.numbered_by_year("HL", years, year_counters),
            "report_date": b.format_days(reported, DATE_FORMAT),
            "caller_phone": b.blank_out(who["caller_phone"], rng.random(m) < 0.85),
            "victim_name": who["victim_name"],
            "victim_age": what["victim_age"],
            "victim_gender": b.lookup(list(v.HOTLINE_GENDER), gender_idx),
            "victim_citizenship": where["citizenship"],
            "trafficking_type": what["kind"],
            "industry": what["industry"],
            "means_of_control": what["control"],
            "recruiter_relation": what["recruiter"],
            "exploitation_country": where["country"],
            "state": where["state"],
            "narrative": b.blank_out(who["narrative"], rng.random(m) < 0.92),
        }
    )
    frame = _plant_dirt(rng, frame)
    # the export repeats some cases verbatim (re-opened calls); they come later in the file
    repeated = np.sort(rng.choice(m, size=n_dup, replace=False))
    return pl.concat([frame, frame[repeated]])


def _what(rng: np.random.Generator, m: int, female: np.ndarray) -> dict[str, Any]:
    """The kind of trafficking, industry, the victim's age, means of control, recruiter."""
    kind = b.draw_by_group(rng, np.where(female, "female", "male"), TYPE_BY_GENDER)
    kind_np = kind.to_numpy()
    industry = b.draw_by_group(rng, kind_np, v.HOTLINE_INDUSTRY)
    sexual = np.isin(kind_np, ["Sex", "Sex and Labor"])
    labour = np.isin(kind_np, ["Labor", "Sex and Labor"])

    age = b.draw_ages_days(rng, v.AGE_BANDS, v.AGE_BAND_WEIGHTS[NAME], m) // 365
    minor = age < 18
    age_text = pl.Series(age).cast(pl.String)
    age_range = pl.select(
        pl.when(pl.lit(age) < 13)
        .then(age_text)
        .when(pl.lit(age) < 18)
        .then(pl.lit("13-17"))
        .when(pl.lit(age) < 25)
        .then(pl.lit("18-24"))
        .when(pl.lit(age) < 35)
        .then(pl.lit("25-34"))
        .when(pl.lit(age) < 45)
        .then(pl.lit("35-44"))
        .otherwise(pl.lit("45+"))
    ).to_series()
    how = rng.random(m)
    victim_age = pl.select(
        pl.when(pl.lit(how) < 0.55).then(age_text).when(pl.lit(how) < 0.68).then(age_range)
    ).to_series()

    # US definitions: a minor in commercial sex is a victim without force, fraud or
    # coercion, so means of control are mentioned less often for them
    mentioned = rng.random(m) < np.where(sexual & minor, 0.25, 0.45)
    control = b.multi_select(
        rng,
        v.HOTLINE_MEANS_OF_CONTROL,
        mentioned,
        "|",
        boost={
            "Sexual Abuse": np.where(sexual, 0.2, 0.03),
            "Excessive Working Hours": np.where(labour, 0.3, 0.02),
            "Withholds Earnings": np.where(labour, 0.45, 0.2),
        },
    )
    recruiter = b.draw_by_group(rng, np.where(labour & ~sexual, "labor", "sex"), RECRUITER_BY_KIND)
    return {
        "kind": kind,
        "industry": industry,
        "age_text": age_text,
        "victim_age": victim_age,
        "control": control,
        "recruiter": recruiter,
    }


def _where(rng: np.random.Generator, m: int) -> dict[str, pl.Series]:
    """Citizenship, country of exploitation (mostly the US) and state, as operators write them."""
    names = places.code_table(CITIZENSHIP.codes, places.everyday_name)
    citizenship = b.blank_out(
        names.gather(pl.Series(CITIZENSHIP.draw(rng, m), dtype=pl.UInt32)),
        rng.random(m) < 0.40,
    )
    in_us = rng.random(m) < 0.97
    abroad = places.code_table(ABROAD.codes, places.everyday_name).gather(
        pl.Series(ABROAD.draw(rng, m), dtype=pl.UInt32)
    )
    country = pl.select(pl.when(pl.Series(in_us)).then(pl.lit("United States")).otherwise(abroad))
    country = b.blank_out(country.to_series(), rng.random(m) < 0.98)
    state = b.blank_out(b.draw(rng, v.US_STATES, m), in_us & (rng.random(m) < 0.92))
    return {"citizenship": citizenship, "country": country, "state": state}


def _who(
    rng: np.random.Generator,
    m: int,
    female: np.ndarray,
    what: dict[str, Any],
    where: dict[str, pl.Series],
) -> dict[str, pl.Series]:
    """The identifiers: the victim's name, the caller's phone, and the call's narrative."""
    age_text = what["age_text"]
    victim_given = b.given_names(rng, female)
    victim = pl.select(b.text(victim_given, " ", b.family_names(rng, m))).to_series()
    caller_phone = b.us_phones(rng, m)
    other_phone = b.us_phones(rng, m)
    caller_given = b.given_names(rng, rng.random(m) < 0.6)
    caller = pl.select(b.text(caller_given, " ", b.family_names(rng, m))).to_series()
    controller_given = b.given_names(rng, rng.random(m) < 0.2)
    controller = pl.select(b.text(controller_given, " ", b.family_names(rng, m))).to_series()
    place = where["state"].fill_null("an unknown state")
    work = what["industry"].str.to_lowercase()
    narrative = pl.select(
        b.choose_template(
            rng,
            [
                b.text("Caller ", caller, " reported that ", victim, " (approx. ", age_text)
                + b.text(") is made to work in ", work, " in ", place)
                + b.text(". Call back at ", caller_phone, "."),
                b.text(victim, " texted from ", other_phone, " asking for help to leave ")
                + b.text(controller, "."),
                b.text("Anonymous tip about ", victim, ", ", age_text, "; trafficker known as ")
                + b.text(controller, ", phone ", other_phone, "."),
                b.text("Victim ", victim, " called from a shelter in ", place)
                + b.text("; reach caseworker ", caller, " at ", caller_phone, "."),
            ],
            m,
        )
    ).to_series()
    victim_name = pl.select(
        pl.when(pl.lit(rng.random(m)) < 0.45)
        .then(victim)
        .when(pl.lit(rng.random(m)) < 0.4)
        .then(victim_given)
    ).to_series()
    return {"caller_phone": caller_phone, "victim_name": victim_name, "narrative": narrative}


def _plant_dirt(rng: np.random.Generator, frame: pl.DataFrame) -> pl.DataFrame:
    m = frame.height
    cols = {name: frame[name] for name in frame.columns}
    pickers = b.RowPicker.for_columns(rng, m, frame.columns)

    def take(name: str, rate: float, minimum: int) -> np.ndarray:
        return pickers[name].take(rate, minimum)

    cols["victim_age"] = b.plant(cols["victim_age"], take("victim_age", 0.08, 4), AGE_MISSING)
    cols["victim_age"] = b.plant(cols["victim_age"], take("victim_age", 0.0005, 2), AGE_IMPLAUSIBLE)
    gender = b.plant(cols["victim_gender"], take("victim_gender", 0.03, 6), GENDER_VARIANTS)
    cols["victim_gender"] = b.plant(gender, take("victim_gender", 0.01, 3), [None, "unknown"])

    citizenship = b.case_variants(cols["victim_citizenship"], take("victim_citizenship", 0.02, 4))
    citizenship = b.plant(citizenship, take("victim_citizenship", 0.25, 6), MISSING)
    cols["victim_citizenship"] = b.plant(
        citizenship, take("victim_citizenship", 0.01, 8), CITIZENSHIP_MISSPELLED
    )
    country = b.plant(
        cols["exploitation_country"], take("exploitation_country", 0.03, 6), US_VARIANTS
    )
    cols["exploitation_country"] = b.plant(
        country, take("exploitation_country", 0.01, 3), ["Unknown", "N/A", "-"]
    )
    state = b.case_variants(cols["state"], take("state", 0.01, 4))
    cols["state"] = b.plant(state, take("state", 0.003, 3), STATE_NAMES)
    for name in ("trafficking_type", "industry", "recruiter_relation", "means_of_control"):
        cols[name] = b.case_variants(cols[name], take(name, 0.01, 4))

    b.plant_canaries(
        rng,
        cols,
        IDENTIFIERS,
        pickers,
        free_text={"narrative": ("Caller asked for help.", " Caller gave the name ")},
    )
    return pl.DataFrame(cols)

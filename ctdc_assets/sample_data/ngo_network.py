"""ngo_network: a Liberty Shared-like NGO case system in Asia, exported as nested JSON Lines."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ctdc_assets.sample_data import _base as b
from ctdc_assets.sample_data import countries as places
from ctdc_assets.sample_data import vocab as v

NAME = "ngo_network"
INDEX = 2
DATE_FORMAT = "%Y-%m-%d"

# Dotted paths of the leaves, in the order they appear in each JSON object.
FIELDS = [
    "case.id",
    "case.entered",
    "case.updated",
    "case.consent_to_share",
    "person.name.given",
    "person.name.family",
    "person.date_of_birth",
    "person.age_at_intake",
    "person.sex",
    "person.country_of_origin",
    "person.phone",
    "exploitation.types",
    "exploitation.sectors",
    "exploitation.means_of_control",
    "exploitation.country",
    "exploitation.minor_at_start",
    "recruiter.types",
    "notes",
]
IDENTIFIERS = [
    "case.id",
    "person.name.given",
    "person.name.family",
    "person.date_of_birth",
    "person.phone",
    "notes",
]

ENTRY_YEARS = {
    2011: 2.0, 2012: 3.0, 2013: 4.0, 2014: 6.0, 2015: 9.0, 2016: 10.0, 2017: 10.0, 2018: 10.0,
    2019: 10.0, 2020: 7.0, 2021: 7.0, 2022: 8.0, 2023: 8.0, 2024: 6.0,
}  # fmt: skip
DATA_END = b.day_number(dt.date(2024, 12, 31))
UPDATED_END = b.day_number(dt.date(2025, 1, 31))  # last ordinary update
RESENT_END = b.day_number(dt.date(2025, 2, 28))  # last update of a re-sent record

ORIGIN = places.CountryDistribution.zipf(
    {
        "KH": 20.0, "MM": 18.0, "VN": 12.0, "ID": 8.0, "LA": 6.0, "TH": 5.0, "PH": 5.0,
        "BD": 5.0, "NP": 4.0, "CN": 3.0, "IN": 2.0, "LK": 2.0, "KE": 1.0, "UG": 0.8, "PK": 0.8,
        "MY": 0.6, "TL": 0.5, "FJ": 0.4,
    }
)  # fmt: skip
DESTINATION = places.CountryDistribution.zipf(
    {
        "TH": 34.0, "MY": 12.0, "CN": 8.0, "ID": 8.0, "KH": 7.0, "TW": 4.0, "MM": 4.0,
        "VN": 3.0, "SG": 2.0, "KR": 2.0, "JP": 2.0, "LA": 2.0, "AE": 1.0, "SA": 1.0, "HK": 1.0,
        "FJ": 0.6, "MU": 0.5, "ZA": 0.5, "PG": 0.4,
    }
)  # fmt: skip
PHONE_CODES = ["855", "84", "95", "66", "62", "63", "856", "977", "880", "60"]

# How a country is written, with weights: ISO alpha-3, the ISO name, an everyday name.
COUNTRY_STYLES = {"alpha3": 60.0, "iso_name": 25.0, "everyday": 15.0}
SEX_MISSING = ["", "unknown", None]
COUNTRY_MISSING = ["", "unknown", "N/A", "-", "none"]
COUNTRY_MISSPELLED = ["Cambodai", "Veitnam", "Myanmer", "Thiland", "Indonesa", "Lao PDR", "Burma"]
COUNTRY_UNKNOWN_CODES = ["XXX", "UNK"]
TYPE_VARIANTS = ["Forced Labour", "forced labor", "Sexual Exploitation", " forced labour"]
SECTOR_VARIANTS = ["Fishing", "fishing ", "Domestic Work", "fishing boat"]
AGE_IMPLAUSIBLE = [-1, 130]


def generate(seed: int, chunk: int, n: int, first_number: int) -> pl.DataFrame:
    """n records (re-sent updates included), case numbers from first_number on."""
    rng = b.rng_for(seed, INDEX, chunk)
    n_dup = min(max(2, round(0.005 * n)), n // 4)
    m = n - n_dup
    person = _person(rng, m)
    female = person["female"]
    what = _what(rng, m, female)
    who = _who(rng, m, female)

    frame = pl.DataFrame(
        {
            "case.id": "LS-"
            + pl.Series(np.arange(first_number, first_number + m)).cast(pl.String).str.zfill(8),
            "case.entered": b.format_days(person["entered"], DATE_FORMAT),
            "case.updated": b.format_days(person["updated"], DATE_FORMAT),
            "case.consent_to_share": pl.Series(np.ones(m, dtype=bool)),
            "person.name.given": who["given"],
            "person.name.family": b.blank_out(who["family"], rng.random(m) < 0.9),
            "person.date_of_birth": b.format_days(
                person["birth"], DATE_FORMAT, person["dob_known"]
            ),
            "person.age_at_intake": pl.Series(person["age"], dtype=pl.Int64).set(
                pl.Series(~person["age_known"]), None
            ),
            "person.sex": b.blank_out(
                b.lookup(list(v.NGO_SEX), person["sex_idx"]), rng.random(m) < 0.97
            ),
            "person.country_of_origin": what["origin"],
            "person.phone": b.blank_out(who["phone"], rng.random(m) < 0.6),
            "exploitation.types": what["types"],
            "exploitation.sectors": what["sectors"],
            "exploitation.means_of_control": what["control"],
            "exploitation.country": what["destination"],
            "exploitation.minor_at_start": pl.Series(person["minor_at_start"]).set(
                pl.Series(~person["minor_known"]), None
            ),
            "recruiter.types": what["recruiters"],
            "notes": b.blank_out(who["notes"], rng.random(m) < 0.8),
        }
    )
    frame = _plant_dirt(rng, frame)
    return pl.concat([frame, _resent(rng, frame, person["updated"], n_dup)])


def _person(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """Entry and update dates, sex, birth and age, and whether each is known."""
    years = b.draw_years(rng, ENTRY_YEARS, m)
    entered = np.minimum(b.days_in_years(rng, years), DATA_END)
    updated = b.later(rng, entered, 700, UPDATED_END)
    sex_idx = rng.choice(len(v.NGO_SEX), size=m, p=b.normalised([*v.NGO_SEX.values()]))
    sex_values = list(v.NGO_SEX)
    female = np.isin(sex_idx, [sex_values.index(s) for s in ("F", "female", "Female")])
    female |= (sex_idx == sex_values.index("X")) & (rng.random(m) < 0.5)
    age_days = b.draw_ages_days(rng, v.AGE_BANDS, v.AGE_BAND_WEIGHTS[NAME], m)
    birth = entered - age_days
    age = b.age_in_years(birth, entered)
    dob_known = rng.random(m) < 0.45
    age_known = dob_known | (rng.random(m) < 0.55)
    # years in the situation before intake: minors at start are common among young adults
    years_in = rng.exponential(2.0, m)
    minor_at_start = np.where(age - years_in < 18, True, False)
    minor_known = age_known & (rng.random(m) < 0.8)
    return {
        "entered": entered,
        "updated": updated,
        "sex_idx": sex_idx,
        "female": female,
        "birth": birth,
        "age": age,
        "dob_known": dob_known,
        "age_known": age_known,
        "minor_at_start": minor_at_start,
        "minor_known": minor_known,
    }


def _what(rng: np.random.Generator, m: int, female: np.ndarray) -> dict[str, pl.Series]:
    """Types of exploitation, sectors, means of control, recruiters, origin and destination."""
    group = np.where(female, "female", "male")
    first_type = b.draw_by_group(rng, group, v.NGO_TYPES)
    second = rng.random(m) < 0.08
    types = pl.select(
        pl.when(pl.Series(second) & (first_type != "sexual exploitation"))
        .then(pl.concat_list([first_type, pl.lit("sexual exploitation")]))
        .otherwise(pl.concat_list([first_type]))
    ).to_series()
    labour = first_type.is_in(list(v.NGO_LABOUR_TYPES)).to_numpy()
    sectors = b.list_select(
        rng,
        {k: w / 100 for k, w in v.NGO_SECTORS.items()},
        labour & (rng.random(m) < 0.85),
    )
    control = b.list_select(rng, v.NGO_MEANS_OF_CONTROL, rng.random(m) < 0.7)
    recruiters = b.list_select(rng, v.NGO_RECRUITER_TYPES, rng.random(m) < 0.75)

    origin = _countries(rng, ORIGIN, m)
    destination = _countries(rng, DESTINATION, m)
    origin = b.blank_out(origin, rng.random(m) < 0.93)
    destination = b.blank_out(destination, rng.random(m) < 0.9)
    return {
        "types": types,
        "sectors": sectors,
        "control": control,
        "recruiters": recruiters,
        "origin": origin,
        "destination": destination,
    }


def _who(rng: np.random.Generator, m: int, female: np.ndarray) -> dict[str, pl.Series]:
    """The identifiers: name, phone, and the caseworker's notes."""
    given = b.given_names(rng, female)
    family = b.family_names(rng, m)
    phone = b.phones(rng, m, PHONE_CODES)
    relative_phone = b.phones(rng, m, PHONE_CODES)
    city = b.pick(rng, b.CITIES, m)
    broker = b.given_names(rng, rng.random(m) < 0.3)
    notes = pl.select(
        b.choose_template(
            rng,
            [
                b.text("Met ", given, " ", family, " at the shelter in ", city)
                + b.text("; brother reachable on ", relative_phone, "."),
                b.text(given, " says the broker ", broker, " kept the passport. Call ", phone)
                + b.text(" before visits."),
                b.text("Rescued from a vessel with 12 others. ", given, " ", family)
                + b.text(" wants to go home; mother's phone ", relative_phone),
                pl.lit("Repatriation pending; documents requested from the embassy."),
            ],
            m,
        )
    ).to_series()
    return {"given": given, "family": family, "phone": phone, "notes": notes}


def _countries(rng: np.random.Generator, dist: places.CountryDistribution, n: int) -> pl.Series:
    """Country as alpha-3, ISO name or everyday name, the way NGO staff type it."""
    idx = pl.Series(dist.draw(rng, n), dtype=pl.UInt32)
    alpha3 = places.to_alpha3(pl.Series(dist.codes)).gather(idx)
    iso_name = places.code_table(dist.codes, places.official_name).gather(idx)
    everyday = places.code_table(dist.codes, places.everyday_name).gather(idx)
    style = rng.choice(3, size=n, p=b.normalised(list(COUNTRY_STYLES.values())))
    return pl.select(
        pl.when(pl.lit(style) == 0)
        .then(alpha3)
        .when(pl.lit(style) == 1)
        .then(iso_name)
        .otherwise(everyday)
    ).to_series()


def _plant_dirt(rng: np.random.Generator, frame: pl.DataFrame) -> pl.DataFrame:
    m = frame.height
    cols = {name: frame[name] for name in frame.columns}
    pickers = b.RowPicker.for_columns(rng, m, frame.columns)

    def take(name: str, rate: float, minimum: int) -> np.ndarray:
        return pickers[name].take(rate, minimum)

    consent = cols["case.consent_to_share"].cast(pl.Boolean)
    consent = consent.scatter(take("case.consent_to_share", 0.03, 2), False)
    cols["case.consent_to_share"] = consent.scatter(take("case.consent_to_share", 0.003, 1), None)
    cols["person.sex"] = b.plant(cols["person.sex"], take("person.sex", 0.01, 3), SEX_MISSING)
    for name in ("person.country_of_origin", "exploitation.country"):
        series = b.case_variants(cols[name], take(name, 0.02, 4))
        series = b.plant(series, take(name, 0.02, 5), COUNTRY_MISSING)
        series = b.plant(series, take(name, 0.005, 7), COUNTRY_MISSPELLED)
        cols[name] = b.plant(series, take(name, 0.002, 2), COUNTRY_UNKNOWN_CODES)
    rows = take("person.age_at_intake", 0.0005, 2)
    implausible = np.array(AGE_IMPLAUSIBLE)[np.arange(rows.size) % len(AGE_IMPLAUSIBLE)]
    cols["person.age_at_intake"] = cols["person.age_at_intake"].scatter(rows, implausible)
    # list values replaced by a variant spelling (sector lists are often empty: draw more)
    for name, variants, rate, minimum in (
        ("exploitation.types", TYPE_VARIANTS, 0.01, 4),
        ("exploitation.sectors", SECTOR_VARIANTS, 0.02, 12),
    ):
        rows = take(name, rate, minimum)
        rows = rows[(cols[name].gather(rows).list.len() > 0).to_numpy()]
        replaced = pl.Series([[variants[i % len(variants)]] for i in range(rows.size)])
        cols[name] = b.plant_series(cols[name], rows, replaced)

    b.plant_canaries(
        rng,
        cols,
        IDENTIFIERS,
        pickers,
        free_text={"notes": ("Follow-up call.", " Interpreter: ")},
    )
    return pl.DataFrame(cols)


def _resent(
    rng: np.random.Generator, frame: pl.DataFrame, updated: np.ndarray, count: int
) -> pl.DataFrame:
    """Records exported again after an update: same case id, later `updated`."""
    rows = np.sort(rng.choice(frame.height, size=count, replace=False))
    later = b.later(rng, updated[rows] + 1, 44, RESENT_END)
    return frame[rows].with_columns(**{"case.updated": b.format_days(later, DATE_FORMAT)})


def nest(frame: pl.DataFrame) -> pl.DataFrame:
    """Flat dotted columns to the nested objects of the JSON Lines file."""
    c = pl.col
    return frame.select(
        case=pl.struct(
            c("case.id").alias("id"),
            c("case.entered").alias("entered"),
            c("case.updated").alias("updated"),
            c("case.consent_to_share").alias("consent_to_share"),
        ),
        person=pl.struct(
            pl.struct(
                c("person.name.given").alias("given"), c("person.name.family").alias("family")
            ).alias("name"),
            c("person.date_of_birth").alias("date_of_birth"),
            c("person.age_at_intake").alias("age_at_intake"),
            c("person.sex").alias("sex"),
            c("person.country_of_origin").alias("country_of_origin"),
            c("person.phone").alias("phone"),
        ),
        exploitation=pl.struct(
            c("exploitation.types").alias("types"),
            c("exploitation.sectors").alias("sectors"),
            c("exploitation.means_of_control").alias("means_of_control"),
            c("exploitation.country").alias("country"),
            c("exploitation.minor_at_start").alias("minor_at_start"),
        ),
        recruiter=pl.struct(c("recruiter.types").alias("types")),
        notes=c("notes"),
    )

"""Synthetic `merged.victims` frames for the tests and timings. Not personal data:
every value is drawn from a seeded generator, values only from the standard.

`statistics_victims`, for the aggregate statistics: shaped like the real data where it
matters to small-cell protection: a long tail of citizenships and countries of
exploitation (Zipf-like), a hotline share with unknown citizenship and exploitation in
the US, multi-select lists with unrecorded values.

`anonymization_victims`, for the k-anonymization, at any size: marginals follow the
public CTDC sample (case management ~74 %, hotline ~26 %; a Zipf-like long tail of 170
nationalities and 150 countries of exploitation; hotline citizenship mostly unknown and
exploitation mostly in the US; majority statuses mostly missing), with the internal
columns.

Two generators, not one: each test module's assertions were written on its own.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from ctdc_assets.standard import Standard, country_codes, load_standard

# --------------------------------------------------------------------------- statistics


def _zipf(rng: np.random.Generator, codes: list[str], n: int, power: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(codes) + 1) ** power
    return np.array(codes)[rng.choice(len(codes), size=n, p=weights / weights.sum())]


def statistics_victims(
    records: int = 5_000, seed: int = 3, standard: Standard | None = None
) -> pl.DataFrame:
    """`records` rows with the 63 standard columns typed per `polars_schema()`."""
    std = standard or load_standard()
    rng = np.random.default_rng(seed)
    missing = std.missing_code
    codes = sorted(country_codes() - {"US", "AQ"})
    rng.shuffle(codes)
    countries = ["US", *codes[:180]]
    hotline = rng.random(records) < 0.26
    years = np.arange(2002, 2022)
    year = rng.choice(years, size=records, p=(w := np.linspace(1, 4, years.size)) / w.sum())
    year = np.where(hotline & (year < 2015), rng.integers(2015, 2022, records), year)
    year = np.where(rng.random(records) < 0.005, -99, year)
    citizenship = np.where(
        hotline & (rng.random(records) < 0.9), "00", _zipf(rng, countries[1:], records, 1.1)
    )
    citizenship = np.where(rng.random(records) < 0.05, "00", citizenship)
    exploitation = np.where(hotline, "US", _zipf(rng, countries, records, 1.2))
    exploitation = np.where(rng.random(records) < 0.04, "00", exploitation)
    same = rng.random(records) < 0.3  # domestic trafficking
    exploitation = np.where(same & (citizenship != "00"), citizenship, exploitation)
    ages = [v.code for v in std.variable("ageBroad").values or []]
    age = rng.choice([*ages, missing], size=records, p=_p([3, 10, 8, 8, 7, 6, 12, 6, 4, 36]))
    majority_of = {v.code: v.model_extra["majority"] for v in std.variable("ageBroad").values or []}
    majority = np.array([majority_of.get(a, "Unknown") for a in age])
    columns: dict[str, object] = {
        "yearOfRegistration": year,
        "Datasource": np.where(hotline, "Hotline", "Case Management"),
        "gender": rng.choice(
            ["Female", "Male", "Transgender/NonConforming", "Unknown"],
            size=records,
            p=_p([70, 26, 1, 3]),
        ),
        "ageBroad": age,
        "majorityStatus": majority,
        "majorityStatusAtExploit": majority,
        "majorityEntry": majority,
        "citizenship": citizenship,
        "CountryOfExploitation": exploitation,
        "isAbduction": rng.choice([0, 1, -99], size=records, p=_p([50, 5, 45])),
    }
    exploit = _flags(rng, std, "typeOfExploitConcatenated", records, 0.05, [45, 50, 8, 3, 1, 1, 2])
    columns |= exploit
    fl = exploit["isForcedLabour"] == 1
    sx = exploit["isSexualExploit"] == 1
    columns["isSexAndLabour"] = np.where(
        fl & sx, 1, np.where(exploit["isForcedLabour"] < 0, -99, 0)
    )
    columns |= _flags(rng, std, "meansOfControlConcatenated", records, 0.4, None)
    columns |= _flags(rng, std, "typeOfLabourConcatenated", records, 0.3, None, only=fl)
    columns |= _flags(rng, std, "typeOfSexConcatenated", records, 0.3, [80, 10, 5, 5], only=sx)
    columns |= _flags(rng, std, "RecruiterRelationship", records, 0.5, [20, 30, 25, 20, 5])
    frame = pl.DataFrame({k: v for k, v in columns.items()})
    schema = std.polars_schema()
    return frame.select(
        [
            (pl.col(c).cast(t) if c in frame.columns else pl.lit(missing).cast(t)).alias(c)
            for c, t in schema.items()
        ]
    ).with_columns(pl.lit("synthetic").alias("contributor"))


def _p(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _flags(
    rng: np.random.Generator,
    std: Standard,
    list_name: str,
    n: int,
    not_recorded: float,
    weights: list[float] | None,
    only: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Flags of one list (-99 where not recorded or out of scope) and its label column."""
    flags = std.flags_of(list_name)
    w = _p(weights or list(1.0 / np.arange(1, len(flags) + 1)))
    recorded = rng.random(n) >= not_recorded
    if only is not None:
        recorded &= only
    first = rng.choice(len(flags), size=n, p=w)
    second = rng.choice(len(flags), size=n, p=w)
    extra = rng.random(n) < 0.25
    out: dict[str, np.ndarray] = {}
    labels = np.full(n, "", dtype=object)
    separator = std.variable(list_name).separator or ";"
    for i, flag in enumerate(flags):
        on = (first == i) | (extra & (second == i))
        out[flag.name] = np.where(recorded, on.astype(int), -99)
        labels = np.where(
            recorded & on, labels + np.where(labels == "", "", separator) + flag.label, labels
        )
    out[list_name] = np.where(recorded, labels, std.missing_code)
    return out


# --------------------------------------------------------------------------- anonymization

_TOP_ORIGINS = [
    "PH",
    "MD",
    "UA",
    "ID",
    "KH",
    "MM",
    "UZ",
    "RO",
    "KG",
    "BY",
    "VN",
    "NG",
    "TH",
    "BD",
    "NP",
    "ET",
    "GH",
    "HT",
    "LA",
    "IN",
]
_TOP_DESTINATIONS = [
    "US",
    "RU",
    "TH",
    "MY",
    "AE",
    "SA",
    "PL",
    "TR",
    "MD",
    "UA",
    "PH",
    "ID",
    "QA",
    "KZ",
    "ZA",
    "CN",
    "IN",
    "DE",
    "IT",
    "KW",
]
_AGE_BANDS = ["0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+"]
_AGE_WEIGHTS = [2, 16, 18, 10, 8, 8, 20, 10, 8]


def _zipf_countries(rng: np.random.Generator, top: list[str], size: int) -> tuple[list, np.ndarray]:
    rest = sorted(country_codes() - set(top))
    order = top + list(rng.permutation(rest))[: size - len(top)]
    weights = 1.0 / np.arange(1, len(order) + 1) ** 1.4
    return order, weights / weights.sum()


def anonymization_victims(records: int = 92_000, seed: int = 7) -> pl.DataFrame:
    """Standard columns typed per `polars_schema()`, plus the internal columns."""
    std = load_standard()
    rng = np.random.default_rng(seed)
    n = records
    hotline = rng.random(n) < 0.26
    origins, origin_w = _zipf_countries(rng, _TOP_ORIGINS, 170)
    dests, dest_w = _zipf_countries(rng, _TOP_DESTINATIONS, 150)

    citizenship = np.array(rng.choice(origins, n, p=origin_w), dtype=object)
    citizenship[rng.random(n) < 0.05] = "00"
    # Contributors run programmes: a nationality's cases cluster in a few years and
    # go to a few destinations, as in the real data.
    years_cm = np.arange(2002, 2021)
    w_cm = np.linspace(1, 3, len(years_cm)) ** 2
    w_cm[years_cm == 2016] *= 3
    w_cm[years_cm == 2017] *= 2
    centre = dict(
        zip(origins, rng.choice(years_cm, len(origins), p=w_cm / w_cm.sum()), strict=True)
    )
    centre["00"] = 2016
    around = np.array([centre.get(c, 2016) for c in citizenship]) + np.round(rng.normal(0, 1.5, n))
    year = np.where(
        hotline,
        rng.choice(np.arange(2015, 2021), n),
        np.clip(around, 2002, 2020),
    ).astype(np.int16)
    favourite = {c: rng.choice(dests, 3, p=dest_w) for c in origins}
    favourite["00"] = np.array(["00", "-99", "US"])
    hl_cit = rng.random(n)
    citizenship = np.where(
        hotline,
        np.where(hl_cit < 0.8, "00", np.where(hl_cit < 0.9, "US", citizenship)),
        citizenship,
    )
    pick = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    coe = np.array(
        [favourite.get(c, favourite["00"])[i] for c, i in zip(citizenship, pick, strict=True)],
        dtype=object,
    )
    draw = rng.random(n)
    coe = np.where(draw > 0.8, rng.choice(dests, n, p=dest_w), coe)
    coe = np.where(draw < 0.5, citizenship, coe)
    coe = np.where(draw > 0.9, "-99", coe)
    coe = np.where((draw > 0.85) & (draw <= 0.9), "00", coe)
    coe = np.where(hotline, np.where(rng.random(n) < 0.96, "US", "-99"), coe)
    coe = np.where(coe == "00", rng.choice(["00", "-99"], n), coe)

    gender = rng.choice(
        ["Female", "Male", "Transgender/NonConforming", "Unknown"], n, p=[0.7, 0.28, 0.004, 0.016]
    )
    age = np.array(
        rng.choice(_AGE_BANDS, n, p=np.array(_AGE_WEIGHTS) / sum(_AGE_WEIGHTS)), dtype=object
    )
    age[rng.random(n) < 0.25] = "-99"
    minor = np.isin(age, ["0--8", "9--17"])
    majority = np.where(age == "-99", "-99", np.where(minor, "Minor", "Adult"))
    unknown_age = age == "-99"
    majority = np.where(
        unknown_age & (rng.random(n) < 0.3), rng.choice(["Minor", "Adult"], n), majority
    )
    at_exploit = np.where(rng.random(n) < 0.85, "-99", majority)
    at_exploit = np.where((at_exploit == "Adult") & (rng.random(n) < 0.2), "Minor", at_exploit)
    entry = np.where(rng.random(n) < 0.92, "-99", at_exploit)

    columns: dict[str, object] = {
        "yearOfRegistration": year,
        "Datasource": np.where(hotline, "Hotline", "Case Management"),
        "gender": gender,
        "ageBroad": age,
        "majorityStatus": majority,
        "majorityStatusAtExploit": at_exploit,
        "majorityEntry": entry,
        "citizenship": citizenship,
        "CountryOfExploitation": coe,
    }
    frame = pl.DataFrame({k: list(v) if v.dtype == object else v for k, v in columns.items()})
    lists = {
        "meansOfControlConcatenated": (0.7, 0.15),
        "typeOfExploitConcatenated": (0.35, 0.4),
        "typeOfLabourConcatenated": (0.75, 0.3),
        "typeOfSexConcatenated": (0.7, 0.4),
        "RecruiterRelationship": (0.65, 0.3),
    }
    extra: list[pl.Series] = []
    for name, (p_missing, p_flag) in lists.items():
        var = std.variable(name)
        flags = std.flags_of(name)
        missing = rng.random(n) < p_missing
        popularity = 1.0 / np.arange(1, len(flags) + 1) ** 1.5
        chosen = rng.random((n, len(flags))) < p_flag * popularity[rng.permutation(len(flags))]
        primary = rng.choice(len(flags), n, p=popularity / popularity.sum())
        chosen[np.arange(n), primary] = True
        for j, flag in enumerate(flags):
            values = np.where(missing, -99, chosen[:, j].astype(np.int8)).astype(np.int8)
            extra.append(pl.Series(flag.name, values, dtype=pl.Int8))
        present = pl.DataFrame({f.name: ~missing & chosen[:, j] for j, f in enumerate(flags)})
        concatenated = present.select(
            pl.concat_str(
                [pl.when(pl.col(f.name)).then(pl.lit(f.label)) for f in flags],
                separator=var.separator or ";",
                ignore_nulls=True,
            )
        ).to_series()
        extra.append(concatenated.fill_null("-99").replace("", "-99").alias(name))
    frame = frame.with_columns(extra)
    both = (pl.col("isForcedLabour") == 1) & (pl.col("isSexualExploit") == 1)
    frame = frame.with_columns(
        pl.when(pl.col("isForcedLabour") == -99)
        .then(-99)
        .otherwise(both.cast(pl.Int8))
        .cast(pl.Int8)
        .alias("isSexAndLabour"),
        pl.Series("isAbduction", rng.choice([-99, 0, 1], n, p=[0.7, 0.27, 0.03]).astype(np.int8)),
    )
    frame = frame.select([pl.col(c).cast(t) for c, t in std.polars_schema().items()]).with_columns(
        pl.Series("record_key", [f"{x:064x}" for x in rng.integers(0, 2**62, n)]),
        pl.Series("contributor", np.where(hotline, "hotline", "case_agency")),
        pl.lit("2025-03-31").alias("delivery_date"),
        pl.lit("0" * 64).alias("delivery_sha256"),
        pl.lit(datetime(2024, 1, 1)).alias("loaded_at"),
    )
    return frame

"""A synthetic merged-victims table for tests and benchmarks of the statistics.

Shaped like the real data where it matters to small-cell protection: a long tail of
citizenships and countries of exploitation (Zipf-like), a hotline share with unknown
citizenship and exploitation in the US, multi-select lists with unrecorded values.
Not personal data; values only from the standard.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ctdc_assets.standard import Standard, country_codes, load_standard


def _zipf(rng: np.random.Generator, codes: list[str], n: int, power: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(codes) + 1) ** power
    return np.array(codes)[rng.choice(len(codes), size=n, p=weights / weights.sum())]


def synthetic_victims(
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

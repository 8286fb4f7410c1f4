"""Countries for the sample deliveries: which codes people come from and go to, and how
each contributor writes them (ISO codes, official and everyday names)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl
import pycountry

from ctdc_assets.sample_data._base import normalised

# Uninhabited or research-only territories: nobody's citizenship, nowhere anyone is exploited.
_NOT_A_PLACE = {"AQ", "BV", "HM", "UM", "TF", "IO", "GS", "PN", "CC", "CX", "NF", "AX", "BQ"}
# Small dependent territories: they exist in real data, but at the far end of the tail.
_TERRITORIES = {
    "AI", "AS", "AW", "BL", "BM", "CK", "CW", "FK", "FO", "GF", "GG", "GI", "GL", "GP", "GU",
    "IM", "JE", "KY", "MF", "MP", "MQ", "MS", "NC", "NU", "PF", "PM", "RE", "SH", "SJ", "SX",
    "TC", "TK", "VG", "VI", "WF", "YT",
}  # fmt: skip


@cache
def all_country_codes() -> tuple[str, ...]:
    """ISO alpha-2 codes in a fixed pseudo-random order (ranks of the long tail), with
    states before small dependent territories."""
    order = np.random.default_rng(2020)
    codes = sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 not in _NOT_A_PLACE)
    states = [c for c in codes if c not in _TERRITORIES]
    territories = [c for c in codes if c in _TERRITORIES]
    return tuple(
        [states[i] for i in order.permutation(len(states))]
        + [territories[i] for i in order.permutation(len(territories))]
    )


@dataclass(frozen=True)
class CountryDistribution:
    """A realistic head plus a long tail over every other country.

    The tail continues the head smoothly: the country at rank r > H (H = size of the
    head) weighs w_H * 0.9 * (r / H) ** -exponent, w_H the weight of the last head
    country. At ~50,000 rows the first tail countries have a few hundred records and the
    last ones one or none: the shape of real CTDC data (171 nationalities in ~80,000).
    """

    codes: tuple[str, ...]
    probs: np.ndarray

    @classmethod
    def zipf(cls, head: Mapping[str, float], exponent: float = 2.5) -> CountryDistribution:
        tail = [c for c in all_country_codes() if c not in head]
        head_w = np.asarray(list(head.values()), dtype=float)
        ranks = np.arange(len(head) + 1, len(head) + len(tail) + 1, dtype=float)
        tail_w = head_w[-1] * 0.9 * (ranks / len(head)) ** -exponent
        probs = normalised(np.concatenate([head_w, tail_w]))
        return cls(tuple(head) + tuple(tail), probs)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices into `codes`."""
        return rng.choice(len(self.codes), size=n, p=self.probs)


@cache
def _country(code: str):
    return pycountry.countries.get(alpha_2=code)


def to_alpha3(codes: pl.Series) -> pl.Series:
    """Alpha-2 codes to alpha-3."""
    table = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
    return codes.replace_strict(table, return_dtype=pl.String)


def official_name(code: str) -> str:
    return _country(code).name


# How a US hotline operator or an NGO worker writes a country's name.
_EVERYDAY_NAMES = {
    "US": "United States",
    "GB": "United Kingdom",
    "RU": "Russia",
    "CZ": "Czech Republic",
    "TR": "Turkey",
    "CI": "Ivory Coast",
    "MK": "Macedonia",
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "FM": "Micronesia",
    "PS": "Palestine",
    "VA": "Vatican City",
    "SZ": "Swaziland",
    "CV": "Cape Verde",
    "MM": "Burma",
}


def everyday_name(code: str) -> str:
    country = _country(code)
    return _EVERYDAY_NAMES.get(code) or getattr(country, "common_name", None) or country.name


def code_table(codes: Sequence[str], render) -> pl.Series:
    """render(code) for every code, as a Series to gather from."""
    return pl.Series([render(c) for c in codes], dtype=pl.String)

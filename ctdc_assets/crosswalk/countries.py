"""Country names, alpha-3 and alpha-2 codes (with misspellings) -> ISO 3166-1 alpha-2.

Resolution uses well-kept libraries: `pycountry` for the ISO codes and names,
`country_converter` for its name patterns (`Viet Nam`, `Republic of Korea`...),
and `difflib` close matches on pycountry's names for misspellings. A crosswalk adds
an override map for known misspellings that none of these catch. The engine calls this
once per distinct source value, never per row.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache

import pycountry

from ctdc_assets.crosswalk.model_base import normalize
from ctdc_assets.regions import converter
from ctdc_assets.standard import country_codes, load_standard

#: Minimum similarity (0..1) for a misspelled name to count as a country name.
FUZZY_CUTOFF = 0.85


def _fold(value: str) -> str:
    """Normalised and without accents: `Sénégal` and `Senegal` are one name."""
    decomposed = unicodedata.normalize("NFKD", normalize(value))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def _alpha2_codes() -> frozenset[str]:
    return country_codes() | frozenset(load_standard().extra_country_codes)


@cache
def _names() -> dict[str, str]:
    """Normalised English names (short, official, common) -> alpha-2."""
    names: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                names.setdefault(_fold(value), c.alpha_2)
    names.setdefault("kosovo", "XK")
    return names


@cache
def _alpha3() -> dict[str, str]:
    return {c.alpha_3: c.alpha_2 for c in pycountry.countries} | {"XKX": "XK", "RKS": "XK"}


def _coco(values: list[str]) -> dict[str, str]:
    """country_converter's regex patterns, for names pycountry does not spell that way."""
    if not values:
        return {}
    converted = converter().convert(values, to="ISO2", not_found=None)
    if isinstance(converted, str):
        converted = [converted]
    out: dict[str, str] = {}
    for value, code in zip(values, converted, strict=True):
        if isinstance(code, str) and code in _alpha2_codes():
            out[value] = code
    return out


def to_alpha2(
    values: Iterable[str],
    *,
    overrides: Mapping[str, str] | None = None,
    missing: Iterable[str] = (),
    fuzzy: bool = True,
) -> dict[str, str | None]:
    """Each distinct source value -> alpha-2, `""` for a missing spelling, None if unknown.

    Order: override map, missing spellings, alpha-2 (any case), alpha-3, English name,
    then (if `fuzzy`) country_converter patterns and close spellings of names.
    """
    overrides = {_fold(k): v for k, v in (overrides or {}).items()}
    missing_set = {_fold(m) for m in missing}
    out: dict[str, str | None] = {}
    pending: list[str] = []
    for value in values:
        key = _fold(value)
        upper = key.upper()
        if key in overrides:
            out[value] = overrides[key]
        elif key in missing_set:
            out[value] = ""
        elif len(upper) == 2 and upper in _alpha2_codes():
            out[value] = upper
        elif len(upper) == 3 and upper in _alpha3():
            out[value] = _alpha3()[upper]
        elif key in _names():
            out[value] = _names()[key]
        else:
            out[value] = None
            pending.append(value)
    if fuzzy and pending:
        found = _coco([v.strip() for v in pending])
        names = list(_names())
        for value in pending:
            code = found.get(value.strip())
            if code is None:
                close = difflib.get_close_matches(_fold(value), names, 1, FUZZY_CUTOFF)
                code = _names()[close[0]] if close else None
            out[value] = code
    return out

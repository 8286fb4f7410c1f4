"""UN M49 regions and short names of countries, from `country_converter`.

Shared by everything that groups countries (statistics, anonymization hierarchies), so
a country sits in the same region in the aggregate tables, the dashboard and the
record-level release. No country table is kept by hand.

`converter()` is the one `CountryConverter` of the process, also used by the crosswalk
to read country names: building one parses its data file with pandas (~0.2 s).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from country_converter import CountryConverter

UNKNOWN_REGION = "Unknown"


@cache
def converter() -> CountryConverter:
    """country_converter's table and name patterns, built once per process."""
    import country_converter as coco  # slow to import and build: only when needed

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    return coco.CountryConverter()


@cache
def un_regions() -> dict[str, tuple[str, str]]:
    """ISO alpha-2 -> (UN M49 sub-region, UN M49 region).

    country_converter's `UNregion` is the M49 sub-region, or the intermediate region
    where M49 defines one (e.g. Caribbean, Eastern Africa). Its `continent` is not
    nested in it for a few territories (Christmas Island: Asia), so the region of a
    sub-region is the continent of most of its countries; `America` is named
    `Americas` as in M49.
    """
    data = converter().data
    rows: dict[str, tuple[str, str]] = {}
    for iso2, sub, continent in zip(data["ISO2"], data["UNregion"], data["continent"], strict=True):
        code = str(iso2).strip("^$").split("$|^")[0]
        rows[code] = (str(sub), str(continent))
    votes: dict[str, dict[str, int]] = {}
    for sub, continent in rows.values():
        votes.setdefault(sub, {}).setdefault(continent, 0)
        votes[sub][continent] += 1
    region_of = {sub: max(counts, key=lambda c: counts[c]) for sub, counts in votes.items()}
    region_of = {sub: "Americas" if r == "America" else r for sub, r in region_of.items()}
    return {code: (sub, region_of[sub]) for code, (sub, _) in rows.items()}


@cache
def country_names() -> dict[str, str]:
    """ISO alpha-2 -> short English name (e.g. `United States`, `Namibia` for `NA`)."""
    data = converter().data
    return {
        str(iso2).strip("^$").split("$|^")[0]: str(name)
        for iso2, name in zip(data["ISO2"], data["name_short"], strict=True)
    }


def un_region(code: str) -> str:
    """The M49 region of a country code; `Unknown` for 00, -99 or a code without one."""
    return un_regions().get(code, ("", UNKNOWN_REGION))[1]


def un_subregion(code: str) -> str:
    return un_regions().get(code, (UNKNOWN_REGION, ""))[0]


def country_name(code: str) -> str:
    return country_names().get(code, "Unknown" if code in {"00", "-99"} else code)

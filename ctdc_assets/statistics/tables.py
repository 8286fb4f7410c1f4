"""What the published aggregate tables count: their dimensions (`table_specs`,
`dashboard_spec`), the people frame the dimensions are read from (`people`), and the
guide that describes every table (`about_tables`).

No grouping and no protection here: `aggregates` computes the tables, and the audit's
recount (`audit_recount`) reads what a dimension means from this module alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl

from ctdc_assets.regions import un_regions
from ctdc_assets.standard import CELL_RECORD_KEY, Standard, load_standard

if TYPE_CHECKING:
    from ctdc_assets.statistics.cellkey import CellKeyParams

ALL = "All"
UNKNOWN = "Unknown"
NOT_RECORDED = "Not recorded"
GUIDE = "about_tables"
PTABLE = "perturbation_table"  # the cell-key method's ptable, published with the tables
MEASURES = ("count", "suppressed", "total", "share", "unknown_share")

Kind = Literal["additive", "multi", "fixed"]


@dataclass(frozen=True)
class Dimension:
    """One dimension column of a table."""

    column: str
    kind: Kind = "additive"
    parent: str | None = None  # the dimension this one is nested in (country in region)
    unknown: str = UNKNOWN  # the value that means "not known"
    value: str | None = None  # fixed dimensions: their one value (else the scope label)


YEAR = Dimension("year")
ALL_YEARS = Dimension("year", "fixed", value=ALL)
REGION = Dimension("region")


@dataclass(frozen=True)
class TableSpec:
    """What one table counts."""

    name: str
    title: str
    description: str
    dims: tuple[Dimension, ...]  # besides year and region
    year: Dimension = YEAR
    sets: tuple[tuple[str, ...], ...] = ()  # the largest crossings published (none: all)
    multi_list: str | None = None  # standard list variable behind the multi dimension
    scope: tuple[str, str] | None = None  # (flag variable, label): people counted
    labels: tuple[str, ...] = ()  # country dimensions that get name/sub-region columns


def table_specs(standard: Standard | None = None) -> list[TableSpec]:
    """The published tables, in dashboard order."""
    std = standard or load_standard()
    label = {v.name: v.label for v in std.variables if v.label}
    return [
        TableSpec(
            "victims_by_year_datasource",
            "Victims by year of registration and data source",
            "Victims by year of registration and how the case reached the collaborative.",
            (Dimension("datasource"),),
        ),
        TableSpec(
            "victims_by_gender_age",
            "Victims by gender and age band",
            "Victims by gender and by age at registration (age bands of the standard); "
            "gender by age is crossed for all years together (by region).",
            (Dimension("gender"), Dimension("age_band")),
            sets=_crossed_for_all_years("gender", "age_band"),
        ),
        TableSpec(
            "victims_by_citizenship",
            "Victims by citizenship",
            "Victims by citizenship (country of origin for the NGO network), with the UN "
            "region of the citizenship; 00 = not known.",
            (
                Dimension("citizenship_region"),
                Dimension("citizenship", parent="citizenship_region", unknown="00"),
            ),
            labels=("citizenship",),
        ),
        TableSpec(
            "victims_by_exploitation_country",
            "Victims by country of exploitation and UN region",
            "Victims by country of exploitation; the rows with exploitation_country = All "
            "are the UN regions; 00 = not known.",
            (Dimension("exploitation_country", parent="region", unknown="00"),),
            labels=("exploitation_country",),
        ),
        TableSpec(
            "flows_citizenship_to_exploitation",
            "Flows from citizenship to country of exploitation",
            "Victims by citizenship and country of exploitation (a flow from one to the "
            "other), all years together (by year most flows would be below the threshold); "
            "00 = not known.",
            (
                Dimension("citizenship", unknown="00"),
                Dimension("exploitation_country", parent="region", unknown="00"),
            ),
            labels=("citizenship", "exploitation_country"),
            year=ALL_YEARS,
        ),
        _exploitation_type_by(
            "gender",
            "Type of exploitation by gender",
            "Victims by type of exploitation (multi-response) and gender; crossed for all "
            "years together (by region).",
        ),
        _exploitation_type_by(
            "majority_status",
            "Type of exploitation by majority status",
            "Victims by type of exploitation (multi-response) and whether they were a minor "
            "or an adult at registration; crossed for all years together (by region).",
            name="exploitation_type_by_majority",
        ),
        _multi_response(
            "means_of_control",
            "Means of control",
            "Victims by means of control used on them (multi-response).",
            "meansOfControlConcatenated",
        ),
        _multi_response(
            "industry",
            "Industries of forced labour",
            "Victims of forced labour by industry (multi-response).",
            "typeOfLabourConcatenated",
            name="forced_labour_industries",
            scope=("isForcedLabour", label["isForcedLabour"]),
        ),
        _multi_response(
            "sexual_exploitation_type",
            "Types of sexual exploitation",
            "Victims of sexual exploitation by form of sexual exploitation (multi-response).",
            "typeOfSexConcatenated",
            name="sexual_exploitation_types",
            scope=("isSexualExploit", label["isSexualExploit"]),
        ),
        _multi_response(
            "recruiter_relationship",
            "Relationship to the recruiter",
            "Victims by their relationship to the recruiter (multi-response).",
            "RecruiterRelationship",
        ),
    ]


def _crossed_for_all_years(first: str, second: str) -> tuple[tuple[str, ...], ...]:
    """Each of two dimensions by year and region, the two crossed for all years only."""
    return (("year", "region", first), ("year", "region", second), ("region", first, second))


def _exploitation_type_by(
    column: str, title: str, description: str, name: str | None = None
) -> TableSpec:
    """Type of exploitation (multi-response) crossed with one other dimension."""
    return TableSpec(
        name or f"exploitation_type_by_{column}",
        title,
        description,
        (
            Dimension(column),
            Dimension("type_of_exploitation", "multi", unknown=NOT_RECORDED),
        ),
        multi_list="typeOfExploitConcatenated",
        sets=_crossed_for_all_years("type_of_exploitation", column),
    )


def _multi_response(
    column: str,
    title: str,
    description: str,
    multi_list: str,
    name: str | None = None,
    scope: tuple[str, str] | None = None,
) -> TableSpec:
    """One multi-response list; with a scope, of the people of one type of exploitation
    (a fixed `type_of_exploitation` dimension names it)."""
    fixed = (Dimension("type_of_exploitation", "fixed"),) if scope else ()
    return TableSpec(
        name or column,
        title,
        description,
        (*fixed, Dimension(column, "multi", unknown=NOT_RECORDED)),
        multi_list=multi_list,
        scope=scope,
    )


DASHBOARD_CELLS = "dashboard_cells"
DRILL_FILTERS = 2  # conditions besides the years a dashboard view may combine


def dashboard_spec() -> TableSpec:
    """The dashboard's drill-down cells: every combination of up to two filters besides
    the years, by each chart dimension, each cell perturbed like any other (cell key
    only: suppressing this many overlapping cells would withhold most of them)."""
    dims = (
        Dimension("exploitation_country", parent="region", unknown="00"),
        Dimension("citizenship_region"),
        Dimension("citizenship", parent="citizenship_region", unknown="00"),
        Dimension("gender"),
        Dimension("age_band"),
        Dimension("type_of_exploitation", "multi", unknown=NOT_RECORDED),
    )
    free = ["region", *(d.column for d in dims)]
    return TableSpec(
        DASHBOARD_CELLS,
        "Dashboard drill-down cells",
        "Victims by every combination of up to two filters besides the year (UN region "
        "and country of exploitation, citizenship region and country, gender, age band, "
        "type of exploitation) and one chart dimension, by year and for all years; "
        "totals and shares are left empty (the other tables have them).",
        dims,
        sets=tuple(
            ("year", *top)
            for top in itertools.combinations(free, DRILL_FILTERS + 1)
            if not _redundant(set(top))
        ),
        multi_list="typeOfExploitConcatenated",
    )


def _redundant(dims: set[str]) -> bool:
    """A country with its own region (the country names it), or two countries crossed
    (the flows table has them): left out of the drill-down to keep it small."""
    return (
        {"region", "exploitation_country"} <= dims
        or {"citizenship_region", "citizenship"} <= dims
        or {"exploitation_country", "citizenship"} <= dims
    )


# --------------------------------------------------------------------------- people


def people(victims: pl.DataFrame, standard: Standard | None = None) -> pl.DataFrame:
    """One row per victim with the table dimensions as text (unknown spelled out)."""
    std = standard or load_standard()
    missing, unknown_country = std.missing_code, std.unknown_country
    regions = un_regions()
    region_of = {code: region for code, (_, region) in regions.items()}

    def text(column: str) -> pl.Expr:
        value = pl.col(column).cast(pl.String).str.strip_chars()
        return (
            pl.when(value.is_null() | value.is_in([missing, "", UNKNOWN]))
            .then(pl.lit(UNKNOWN))
            .otherwise(value)
        )

    def country(column: str) -> pl.Expr:
        value = pl.col(column).cast(pl.String).str.strip_chars()
        return (
            pl.when(value.is_null() | value.is_in([missing, ""]))
            .then(pl.lit(unknown_country))
            .otherwise(value)
        )

    def region(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(region_of, default=UNKNOWN, return_dtype=pl.String)

    year = pl.col("yearOfRegistration").cast(pl.Int32)
    frame = victims.select(
        pl.when(year.is_null() | (year < 0))
        .then(pl.lit(UNKNOWN))
        .otherwise(year.cast(pl.String))
        .alias("year"),
        country("CountryOfExploitation").alias("exploitation_country"),
        country("citizenship").alias("citizenship"),
        text("Datasource").alias("datasource"),
        text("gender").alias("gender"),
        text("ageBroad").alias("age_band"),
        text("majorityStatus").alias("majority_status"),
        *[
            pl.col(flag).cast(pl.Int8, strict=False).fill_null(-99)
            for flag in _all_flags(std)
            if flag in victims.columns
        ],
        (
            pl.col(CELL_RECORD_KEY).cast(pl.Int64)
            if CELL_RECORD_KEY in victims.columns
            else pl.lit(0, pl.Int64).alias(CELL_RECORD_KEY)
        ),
    )
    return frame.with_columns(
        region("exploitation_country").alias("region"),
        region("citizenship").alias("citizenship_region"),
    )


def input_columns(standard: Standard | None = None) -> list[str]:
    """The columns of merged/victims that `people` reads (read no others: 10M records)."""
    std = standard or load_standard()
    return [*_TEXT_INPUTS, *_all_flags(std), CELL_RECORD_KEY]


_TEXT_INPUTS = (
    "yearOfRegistration",
    "CountryOfExploitation",
    "citizenship",
    "Datasource",
    "gender",
    "ageBroad",
    "majorityStatus",
)


def _all_flags(std: Standard) -> list[str]:
    return [v.name for v in std.variables if v.type == "flag"]


# --------------------------------------------------------------------------- the guide


METHOD = (
    "Counts from 1 to threshold-1 are suppressed (primary). Then, in every published "
    "relation total = sum of its parts (across years, regions and every additive "
    "dimension, and for identical counts shared between tables), suppressed parts are "
    "either none or at least two summing to at least the threshold, and a suppressed total "
    "has at least one suppressed part; the smallest published parts are suppressed until "
    "that holds (secondary). Last, no suppressed count may be determined by the system of "
    "all published relations; any that is gets a further suppression. Totals over a "
    "filter in the dashboard are sums of published counts only."
)


CELL_KEY_METHOD = (
    "Cell-key method (ABS, ONS, Destatis): every record has a permanent secret key, "
    "uniform on 0..2^32-1; a cell's key is the sum of its records' keys modulo 2^32; the "
    "published count is the true count plus the perturbation that perturbation_table "
    "gives for (true count, cell key). The same records give the same count in every "
    "table, view and release; nothing is withheld; a true count from 1 to {js} is "
    "published as 0 or {k}, never as itself, and no published count lies in 1..{js}; "
    "zeros stay zero; larger counts move by at most {d} (variance {v}, unbiased). Totals "
    "are perturbed cells of their own: parts do not add up to them exactly."
)


def method_text(threshold: int, cell_key: CellKeyParams | None) -> str:
    if cell_key is None:
        return METHOD
    return CELL_KEY_METHOD.format(
        js=cell_key.threshold,
        k=cell_key.threshold + 1,
        d=cell_key.max_deviation,
        v=cell_key.variance,
    )


def about_tables(
    specs: Sequence[TableSpec], threshold: int, cell_key: CellKeyParams | None = None
) -> pl.DataFrame:
    """One row per table: what it counts and how to read (and audit) it."""
    rows = []
    for spec in specs:
        dims = (spec.year, REGION, *spec.dims)
        rows.append(
            {
                "table": spec.name,
                "title": spec.title,
                "description": spec.description,
                "dimensions": ",".join(d.column for d in dims),
                "multi_response": ",".join(d.column for d in dims if d.kind == "multi"),
                "fixed": ",".join(d.column for d in dims if d.kind == "fixed"),
                "nested": ",".join(f"{d.column}<{d.parent}" for d in dims if d.parent),
                "unknown_values": ",".join(
                    f"{d.column}:{d.unknown}" for d in dims if d.kind != "fixed"
                ),
                "people_counted": (
                    f"victims with {spec.scope[1].lower()}" if spec.scope else "all victims"
                ),
                "threshold": threshold,
                "method": method_text(threshold, cell_key),
                "protection": "suppression" if cell_key is None else "cell_key",
            }
        )
    return pl.DataFrame(rows)

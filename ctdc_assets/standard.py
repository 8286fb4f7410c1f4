"""The CTDC standard, loaded from `standard.yaml` (the codebook as data).

Everything that depends on the standard (warehouse DDL, value sets, the harmonized
quality suite, the published codebook) asks this module instead of restating it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl
import pycountry
import yaml
from pydantic import BaseModel, ConfigDict

STANDARD_FILE = Path(__file__).with_name("standard.yaml")
#: Merged-only internal column: each record's permanent key of the cell-key method
#: (`statistics/cellkey.py`), never in harmonized tables nor in any release.
CELL_RECORD_KEY = "cell_record_key"

VariableType = Literal[
    "year", "category", "age_band", "country", "flag", "list", "text", "timestamp"
]
Role = Literal["quasi_identifier", "sensitive", "internal"]

_DUCKDB_TYPES: dict[str, str] = {
    "year": "SMALLINT",
    "flag": "TINYINT",
    "category": "VARCHAR",
    "age_band": "VARCHAR",
    "country": "VARCHAR",
    "list": "VARCHAR",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP",
}
_POLARS_TYPES: dict[str, type[pl.DataType]] = {
    "year": pl.Int16,
    "flag": pl.Int8,
    "category": pl.String,
    "age_band": pl.String,
    "country": pl.String,
    "list": pl.String,
    "text": pl.String,
    "timestamp": pl.Datetime,
}


class Value(BaseModel):
    """One allowed code of a categorical variable."""

    model_config = ConfigDict(extra="allow")
    code: str
    label: str


class Variable(BaseModel):
    """One column of the standard (or one internal column)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    type: VariableType
    role: Role
    description: str
    values: list[Value] | None = None
    valid_range: tuple[int, int] | None = None
    label: str | None = None  # a flag's label inside its list variable
    member_of: str | None = None  # the list variable a flag belongs to
    separator: str | None = None  # list variables: how labels are joined
    flags: list[str] | None = None  # list variables: the flags whose labels they join
    accepted_variants: dict[str, str] | None = None  # list variables: historical spellings
    consistent_with: str | None = None

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self.type]

    @property
    def polars_type(self) -> type[pl.DataType]:
        return _POLARS_TYPES[self.type]

    @property
    def is_quasi_identifier(self) -> bool:
        return self.role == "quasi_identifier"


class Standard(BaseModel):
    """The whole codebook."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str
    missing_code: str
    unknown_country: str
    extra_country_codes: dict[str, str]
    contributors: dict[str, str]
    variables: list[Variable]
    internal: list[Variable]

    def variable(self, name: str) -> Variable:
        for var in self.variables + self.internal:
            if var.name == name:
                return var
        raise KeyError(f"{name!r} is not a variable of the {self.name}")

    @property
    def columns(self) -> list[str]:
        """The published columns, in published order."""
        return [v.name for v in self.variables]

    @property
    def internal_columns(self) -> list[str]:
        return [v.name for v in self.internal]

    @property
    def quasi_identifiers(self) -> list[str]:
        return [v.name for v in self.variables if v.is_quasi_identifier]

    def of_type(self, *types: VariableType) -> list[Variable]:
        return [v for v in self.variables if v.type in types]

    def flags_of(self, list_name: str) -> list[Variable]:
        return [self.variable(f) for f in self.variable(list_name).flags or []]

    def allowed_values(self, name: str) -> set[str]:
        """Every value (as text) a non-list variable may take, the missing code included."""
        var = self.variable(name)
        if var.type == "flag":
            return {"0", "1", self.missing_code}
        if var.type == "country":
            return (
                country_codes()
                | set(self.extra_country_codes)
                | {
                    self.unknown_country,
                    self.missing_code,
                }
            )
        if var.type == "year":
            low, high = var.valid_range or (1900, 2100)
            return {str(y) for y in range(low, high + 1)} | {self.missing_code}
        if var.values is not None:
            return {v.code for v in var.values} | {self.missing_code}
        raise ValueError(f"{name} ({var.type}) has no closed value set")

    def list_labels(self, name: str) -> dict[str, str]:
        """Accepted label spellings of a list variable, mapped to the canonical label."""
        var = self.variable(name)
        labels = {f.label: f.label for f in self.flags_of(name) if f.label}
        return labels | (var.accepted_variants or {})

    def table_ddl(self, table: str, *, internal: bool = True) -> str:
        """CREATE TABLE statement for a table in the standard schema."""
        cols = self.variables + (self.internal if internal else [])
        body = ",\n  ".join(f'"{v.name}" {v.duckdb_type}' for v in cols)
        return f"CREATE TABLE {table} (\n  {body}\n)"

    def polars_schema(self, *, internal: bool = False) -> dict[str, type[pl.DataType]]:
        cols = self.variables + (self.internal if internal else [])
        return {v.name: v.polars_type for v in cols}


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from pycountry."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def load_standard(path: Path = STANDARD_FILE) -> Standard:
    return Standard.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

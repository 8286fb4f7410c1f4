"""The models of the release policy (`release_policy.yaml`), validated against the
standard: what the published file must satisfy and how to generalize to get there.

`policy.load_policy` reads the file into them; `hierarchies` builds on them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ctdc_assets.standard import Standard, load_standard

#: Output column suffixes of the UN M49 levels of a country quasi-identifier.
REGION_SUFFIXES: dict[str, str] = {"subregion": "Subregion", "region": "Region"}


class PolicyError(ValueError):
    """The release policy is not valid for this standard."""


class Level(BaseModel):
    """One generalization level between the original value and `suppressed`.

    Exactly one way of grouping: `width` (+ `origin`) for years, `cuts` for age
    bands, `groups` for categories, `m49` for countries.
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    width: int | None = Field(default=None, ge=2)
    origin: int = 2000
    cuts: list[int] | None = None
    groups: dict[str, list[str]] | None = None
    m49: Literal["subregion", "region"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Level:
        kinds = [self.width, self.cuts, self.groups, self.m49]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError(f"level {self.name!r}: give exactly one of width, cuts, groups, m49")
        return self


class QuasiIdentifier(BaseModel):
    """A quasi-identifier: its hierarchy (levels between original and suppressed)."""

    model_config = ConfigDict(extra="forbid")
    levels: list[Level] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0)


class LDiversity(BaseModel):
    """Distinct l-diversity: every class holds at least `l` values of each attribute."""

    model_config = ConfigDict(extra="forbid")
    l: int = Field(ge=2)  # noqa: E741 - the letter of the definition
    attributes: list[str] = Field(min_length=1)


class StatisticsPolicy(BaseModel):
    """How the aggregate statistics are protected (`statistics/cellkey.py`).

    `cell_key` (default) perturbs every count consistently: maximum deviation D,
    variance V, and no count 1..k-1 published (the ptable's threshold is k - 1);
    `suppression` withholds small counts with secondary suppression (for comparison).
    """

    model_config = ConfigDict(extra="forbid")
    method: Literal["cell_key", "suppression"] = "cell_key"
    max_deviation: int = Field(default=10, ge=1)
    variance: float = Field(default=4.0, gt=0)


class ReleasePolicy(BaseModel):
    """What the k-anonymized release must satisfy, and how to generalize to get there."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(default=11, ge=2)
    suppression_limit: float = Field(default=0.05, ge=0, le=1)
    suppressed_value: str = "*"
    quasi_identifiers: dict[str, QuasiIdentifier]
    l_diversity: LDiversity | None = None
    sensitive_attributes: list[str] = Field(default_factory=list)
    statistics: StatisticsPolicy = Field(default_factory=StatisticsPolicy)

    @field_validator("suppressed_value")
    @classmethod
    def _marker(cls, value: str) -> str:
        if not value or value.strip() != value:
            raise ValueError("suppressed_value must be a non-empty code without spaces")
        return value

    @property
    def qi_names(self) -> list[str]:
        return list(self.quasi_identifiers)

    def region_columns(self, qi: str) -> list[str]:
        """The extra published columns of a country quasi-identifier (finest first)."""
        return [
            f"{qi}{REGION_SUFFIXES[level.m49]}"
            for level in self.quasi_identifiers[qi].levels
            if level.m49 is not None
        ]

    @property
    def release_qi_columns(self) -> list[str]:
        """Every published column k is computed on: the QIs and their region columns."""
        return self.qi_names + [c for q in self.qi_names for c in self.region_columns(q)]

    def release_columns(self, standard: Standard | None = None) -> list[str]:
        """The published columns in order: the standard's, then the region columns."""
        standard = standard or load_standard()
        return standard.columns + [c for q in self.qi_names for c in self.region_columns(q)]

    def validate_against(self, standard: Standard) -> None:
        """Raise PolicyError if the policy names columns or values the standard lacks."""
        problems: list[str] = []
        published = set(standard.columns)
        missing_qis = [q for q in standard.quasi_identifiers if q not in self.quasi_identifiers]
        if missing_qis:
            problems.append(
                "the standard's quasi-identifiers are a floor; the policy omits "
                + ", ".join(missing_qis)
            )
        for name, qi in self.quasi_identifiers.items():
            if name not in published:
                problems.append(f"quasi_identifiers.{name}: not a published column")
                continue
            problems += _level_problems(name, qi, standard)
        attributes = list(self.sensitive_attributes)
        if self.l_diversity:
            attributes += self.l_diversity.attributes
        for name in attributes:
            if name not in published:
                problems.append(f"sensitive attribute {name}: not a published column")
            elif name in self.quasi_identifiers:
                problems.append(f"sensitive attribute {name}: is also a quasi-identifier")
        stats = self.statistics
        if stats.method == "cell_key" and stats.max_deviation < self.k - 1:
            problems.append(
                f"statistics.max_deviation {stats.max_deviation} must be at least k - 1 = "
                f"{self.k - 1} (a true count of 1 is published as 0 or k)"
            )
        if problems:
            raise PolicyError("Invalid release policy: " + "; ".join(problems))


def _level_problems(name: str, qi: QuasiIdentifier, standard: Standard) -> list[str]:
    var = standard.variable(name)
    kinds = {
        "year": "width",
        "age_band": "cuts",
        "category": "groups",
        "flag": "groups",
        "country": "m49",
    }
    expected = kinds.get(var.type)
    if expected is None:
        return [f"quasi_identifiers.{name}: type {var.type} cannot be generalized"]
    problems = []
    for level in qi.levels:
        if getattr(level, expected) is None:
            problems.append(f"quasi_identifiers.{name}.{level.name}: use {expected} for {var.type}")
        if level.groups:
            unknown = {v for vs in level.groups.values() for v in vs} - standard.allowed_values(
                name
            )
            if unknown:
                problems.append(
                    f"quasi_identifiers.{name}.{level.name}: not in the standard: {sorted(unknown)}"
                )
    m49 = [level.m49 for level in qi.levels if level.m49]
    if m49 and m49 != [m for m in ("subregion", "region") if m in m49]:
        problems.append(f"quasi_identifiers.{name}: m49 levels must go subregion, then region")
    return problems

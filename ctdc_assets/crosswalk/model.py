"""The crosswalk schema: how one contributor's delivery maps to the CTDC standard.

A contributor is configuration, not code: `crosswalks/<name>.yaml` is validated here
against the standard (variable names, value sets, rule kinds) when it is loaded, so a
typo fails at load time with the file and the key, not halfway through a run.
The schema is documented for data engineers in `crosswalks/README.md`. The rules are in
`model_rules`, the checks against the standard in `model_check`, loading in `model_load`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ctdc_assets.crosswalk.model_base import (
    DEFAULT_FALSE_VALUES,
    DEFAULT_MISSING_VALUES,
    DEFAULT_TRUE_VALUES,
    CrosswalkError,
    Strict,
    normalize,
    normalized_list,
)
from ctdc_assets.crosswalk.model_check import check_against_standard
from ctdc_assets.crosswalk.model_rules import (
    RULE_KINDS,
    ListRule,
    MapRule,
    Rule,
    parse_rule,
    rule_columns,
    rule_kind,
)
from ctdc_assets.standard import load_standard

#: Importers of this module also take these from here.
__all__ = [
    "RULE_KINDS",
    "Crosswalk",
    "CrosswalkError",
    "ListRule",
    "MapRule",
    "Rule",
    "normalize",
    "rule_columns",
]

# --------------------------------------------------------------------------- reading


class ReadOptions(Strict):
    """How to read the delivery file."""

    format: Literal["csv", "xlsx", "jsonl", "parquet"]
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    sheet: str | None = None  # xlsx: sheet name or glob (`Cases*`); default: first sheet

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character (use '\\t' for tab)")
        return value

    @model_validator(mode="after")
    def _sheet_only_for_xlsx(self) -> ReadOptions:
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError("`sheet` applies to format xlsx only")
        return self


# --------------------------------------------------------------------------- filters


class ConsentFilter(Strict):
    """Keep a record only if its consent column holds one of the accepted spellings."""

    column: str
    accepted: list[str] = Field(default_factory=lambda: list(DEFAULT_TRUE_VALUES))

    @field_validator("accepted", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return normalized_list(value)


class Scope(Strict):
    """Keep a record only if it is in the contributor's scope: a date window on a date
    column, or (`exclude`/`include`) a list of values of a category column."""

    column: str
    date_format: str | None = None
    on_or_after: date | None = None
    before: date | None = None
    keep_undated: bool = False  # date scope: keep records whose date is blank/unreadable
    exclude: list[str] | None = None  # value scope: drop these values (normalised)
    include: list[str] | None = None  # value scope: keep only these values (normalised)

    @field_validator("exclude", "include", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return normalized_list(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Scope:
        dated = self.on_or_after is not None or self.before is not None
        valued = self.exclude is not None or self.include is not None
        if dated == valued:
            raise ValueError(
                "a scope is either a date window (`on_or_after`/`before` with "
                "`date_format`) or a value list (`exclude`/`include`)"
            )
        if dated and not self.date_format:
            raise ValueError("a date scope needs `date_format`")
        return self


class Filters(Strict):
    consent: ConsentFilter | None = None
    scope: list[Scope] = Field(default_factory=list)


class Dedup(Strict):
    """Re-sent case ids: keep the version with the latest `order_by` date (ties: last row)."""

    order_by: str
    date_format: str


class Quality(Strict):
    """Thresholds the gates apply to this contributor."""

    max_unmapped_share: float = Field(0.02, ge=0, le=1)
    #: The raw gate blocks a delivery with this share fewer records than the one before
    #: (lost records?) or this many times more, until `ctdc accept` accepts it.
    max_record_drop: float = Field(0.2, ge=0, le=1)
    max_record_growth: float = Field(5.0, gt=1)
    max_unmapped_share_by_variable: dict[str, float] = Field(default_factory=dict)
    list_consistency: Literal["error", "warning"] = "error"


# --------------------------------------------------------------------------- crosswalk


class Booleans(Strict):
    true: list[str] = Field(default_factory=lambda: list(DEFAULT_TRUE_VALUES))
    false: list[str] = Field(default_factory=lambda: list(DEFAULT_FALSE_VALUES))

    @field_validator("true", "false", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return normalized_list(value)


class Crosswalk(Strict):
    """One contributor's crosswalk (`crosswalks/<name>.yaml`; name = file stem)."""

    name: str
    description: str = ""
    #: Who answers for the contributor's data: an e-mail or `team:<name>` (Dagster owner).
    focal_point: str | None = Field(None, pattern=r"^(team:[\w.-]+|[^@\s]+@[^@\s]+)$")
    #: How often a delivery is due; one later than that marks the contributor overdue.
    cadence: Literal["weekly", "monthly", "quarterly", "twice_yearly", "yearly"] = "monthly"
    read: ReadOptions
    case_id: str | None  # None: the delivery has no case id (see README: record key)
    identifiers: list[str] = Field(default_factory=list)
    unused_columns: list[str] = Field(default_factory=list)
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    booleans: Booleans = Field(default_factory=Booleans)
    filters: Filters = Field(default_factory=Filters)
    dedup: Dedup | None = None
    variables: dict[str, Rule] = Field(default_factory=dict)
    quality: Quality = Field(default_factory=Quality)

    @field_validator("missing_values", mode="before")
    @classmethod
    def _missing_text(cls, value: Any) -> Any:
        return normalized_list(value)

    @field_validator("variables", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        errors: list[str] = []
        for name, rule in value.items():
            try:
                out[name] = parse_rule(rule)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    errors.append(f"variables.{name}.{loc}: {err['msg']}")
            except ValueError as exc:
                errors.append(f"variables.{name}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return out

    @model_validator(mode="after")
    def _fits_standard(self) -> Crosswalk:
        problems = check_against_standard(self, load_standard())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ------------------------------------------------------------------ derived views

    def rules_of(self, kind: str) -> dict[str, Rule]:
        return {v: r for v, r in self.variables.items() if rule_kind(r) == kind}

    def used_columns(self) -> list[str]:
        """Every source column the crosswalk reads (a delivery without one is rejected)."""
        cols: list[str] = []
        if self.case_id:
            cols.append(self.case_id)
        if self.filters.consent:
            cols.append(self.filters.consent.column)
        cols += [s.column for s in self.filters.scope]
        if self.dedup:
            cols.append(self.dedup.order_by)
        for rule in self.variables.values():
            cols += rule_columns(rule)
        return list(dict.fromkeys(cols))

    def known_columns(self) -> set[str]:
        return set(self.used_columns()) | set(self.identifiers) | set(self.unused_columns)

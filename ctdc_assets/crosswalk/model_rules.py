"""The crosswalk's rules: how each standard variable is made from the delivery's columns.

One rule per variable, picked by its single key (`copy`, `map`, `flag`, ...); see
`crosswalks/README.md`. Each rule kind produces some variable types (`RULE_TYPES`).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ctdc_assets.crosswalk.model_base import (
    Strict,
    normalized_list,
    text_mapping,
    yaml_text,
)


class Condition(Strict):
    """Rows whose `column` (normalised) is one of `is_one_of`."""

    column: str
    is_one_of: list[str]

    @field_validator("is_one_of", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return normalized_list(value)


class CopyRule(Strict):
    """Take the column as delivered; values outside the standard's value set -> missing."""

    copy_: str = Field(alias="copy")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConstantRule(Strict):
    constant: str

    @field_validator("constant", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return yaml_text(value)


class ValueMap(Strict):
    column: str
    values: dict[str, str] = Field(default_factory=dict)
    accept_standard_codes: bool = True  # a source value spelled like a code maps to it
    missing: str | None = None  # target for blank / missing spellings (default -99)
    unmapped: str | None = None  # target for values not in the map (default -99)

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return text_mapping(value)

    @field_validator("missing", "unmapped", mode="before")
    @classmethod
    def _target_text(cls, value: Any) -> Any:
        return None if value is None else yaml_text(value)


class MapRule(Strict):
    map: ValueMap


#: What a blank source value means, a code of the target variable (None: -99).
BlankMeans = Annotated[str | None, BeforeValidator(lambda v: None if v is None else yaml_text(v))]


class FlagSource(Strict):
    """A yes/no column -> 1 / 0 (spellings from the crosswalk's `booleans`)."""

    column: str
    missing: BlankMeans = None  # what a blank means (default -99: not recorded)


class FlagRule(Strict):
    flag: FlagSource


class DateSource(Strict):
    column: str
    date_format: str
    missing: BlankMeans = None  # what a blank date means (default -99: not recorded)


class YearRule(Strict):
    year: DateSource


class AgeSource(Strict):
    """Age in years at a reference date: from a birthdate, else from an age column."""

    birthdate: str | None = None
    at: str | None = None  # reference date column (registration, exploitation start...)
    date_format: str | None = None
    years: str | None = None  # age as a number (`17`) or a range (`18-24`, `48+`)
    missing: BlankMeans = None  # what blank sources mean (default -99: not recorded)

    @model_validator(mode="after")
    def _complete(self) -> AgeSource:
        _check_age_source(self)
        return self


class AgeRule(Strict):
    age: AgeSource


def _check_age_source(src: AgeSource) -> None:
    if src.birthdate is None and src.years is None:
        raise ValueError("set `birthdate` (with `at` and `date_format`) and/or `years`")
    if src.birthdate is not None and (src.at is None or src.date_format is None):
        raise ValueError("`birthdate` needs `at` (the reference date) and `date_format`")


class MajoritySource(AgeSource):
    """Minor / Adult from an age (as in `age`) or from a yes/no 'was a minor' column."""

    minor_flag: str | None = None  # yes/no column: true -> Minor, false -> Adult
    adult_from: int = 18

    @model_validator(mode="after")
    def _complete(self) -> MajoritySource:
        if self.minor_flag is not None:
            if self.birthdate or self.years:
                raise ValueError("use either `minor_flag` or an age (`birthdate`/`years`)")
            return self
        _check_age_source(self)
        return self


class MajorityRule(Strict):
    majority: MajoritySource


class CountrySource(Strict):
    column: str
    overrides: dict[str, str] = Field(default_factory=dict)  # known misspellings -> alpha-2
    fuzzy: bool = True  # try country_converter's name patterns and close spellings
    missing: str | None = None  # default: the standard's unknown country (00)
    unmapped: str | None = None  # default: the standard's unknown country (00)

    @field_validator("overrides", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return text_mapping(value)


class CountryRule(Strict):
    country: CountrySource


class ListSource(Strict):
    """A multi-select column -> the list variable's flags and its concatenated labels."""

    column: str
    separator: str = ";"
    values: dict[str, list[str]] = Field(default_factory=dict)  # item -> label(s); [] = ignore
    accept_standard_labels: bool = True
    unlisted: Literal[0, -99] = 0  # flags of labels not listed, when the list is present
    combined: dict[str, list[str]] = Field(default_factory=dict)  # flag -> labels all listed
    only_if: Condition | None = None  # other rows: the list counts as not recorded (-99)
    missing: Literal[0, -99] = -99  # a blank list: not recorded (-99) or none of these (0)

    @field_validator("values", mode="before")
    @classmethod
    def _as_lists(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, list[str]] = {}
        for key, target in value.items():
            if target is None or yaml_text(target) == "-99":
                out[yaml_text(key)] = []
            elif isinstance(target, list):
                out[yaml_text(key)] = [yaml_text(t) for t in target]
            else:
                out[yaml_text(key)] = [yaml_text(target)]
        return out

    @field_validator("unlisted", "missing", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else value


class ListRule(Strict):
    list: ListSource


Rule = (
    CopyRule
    | ConstantRule
    | MapRule
    | FlagRule
    | YearRule
    | AgeRule
    | MajorityRule
    | CountryRule
    | ListRule
)
RULE_KINDS: dict[str, type[BaseModel]] = {
    "copy": CopyRule,
    "constant": ConstantRule,
    "map": MapRule,
    "flag": FlagRule,
    "year": YearRule,
    "age": AgeRule,
    "majority": MajorityRule,
    "country": CountryRule,
    "list": ListRule,
}
#: Which variable types each rule kind can produce.
RULE_TYPES: dict[str, set[str]] = {
    "copy": {"year", "category", "age_band", "country", "flag", "list"},
    "constant": {"year", "category", "age_band", "country", "flag"},
    "map": {"year", "category", "age_band", "country", "flag"},
    "flag": {"flag"},
    "year": {"year"},
    "age": {"age_band"},
    "majority": {"category"},
    "country": {"country"},
    "list": {"list"},
}


def rule_kind(rule: Rule) -> str:
    for kind, cls in RULE_KINDS.items():
        if isinstance(rule, cls):
            return kind
    raise TypeError(rule)


def parse_rule(value: Any) -> Any:
    """Pick the rule class from its single key, so errors speak of that rule only."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        keys = ", ".join(RULE_KINDS)
        raise ValueError(f"a variable takes exactly one rule, one of: {keys}")
    (kind,) = value
    if kind not in RULE_KINDS:
        hint = difflib.get_close_matches(str(kind), RULE_KINDS, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown rule {kind!r}{did_you_mean}; rules are: {', '.join(RULE_KINDS)}")
    return RULE_KINDS[kind].model_validate(value)


def rule_columns(rule: Rule) -> list[str]:
    """Source columns one rule reads."""
    if isinstance(rule, CopyRule):
        return [rule.copy_]
    if isinstance(rule, ConstantRule):
        return []
    inner = getattr(rule, rule_kind(rule))
    names = ("column", "birthdate", "at", "years", "minor_flag")
    cols = [getattr(inner, n) for n in names if getattr(inner, n, None)]
    if isinstance(rule, ListRule) and rule.list.only_if:
        cols.append(rule.list.only_if.column)
    return cols

"""The crosswalk schema: how one contributor's delivery maps to the CTDC standard.

A contributor is configuration, not code: `crosswalks/<name>.yaml` is validated here
against the standard (variable names, value sets, rule kinds) when it is loaded, so a
typo fails at load time with the file and the key, not halfway through a run.
The schema is documented for data engineers in `crosswalks/README.md`.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ctdc_assets.standard import Standard, load_standard

#: Spellings of "no value" used unless a crosswalk sets `missing_values` (compared
#: after trimming, lower-casing and collapsing inner whitespace). `NA` is deliberately
#: absent: it is Namibia.
DEFAULT_MISSING_VALUES: tuple[str, ...] = (
    "",
    "-",
    "--",
    "?",
    "n/a",
    "n.a.",
    "none",
    "null",
    "nil",
    "unknown",
    "not known",
    "not specified",
    "unspecified",
    "-99",
)
DEFAULT_TRUE_VALUES: tuple[str, ...] = ("true", "yes", "y", "1", "t")
DEFAULT_FALSE_VALUES: tuple[str, ...] = ("false", "no", "n", "0", "f")


class CrosswalkError(ValueError):
    """A crosswalk file is missing, unreadable or does not fit the schema or the standard."""


def normalize(value: str) -> str:
    """How source values are compared: trimmed, lower-case, inner whitespace collapsed."""
    return " ".join(value.split()).lower()


def _text(value: Any) -> str:
    """YAML scalars as the text a delivery would hold (`true` -> 'true', 1 -> '1')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- reading


class ReadOptions(_Strict):
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


class ConsentFilter(_Strict):
    """Keep a record only if its consent column holds one of the accepted spellings."""

    column: str
    accepted: list[str] = Field(default_factory=lambda: list(DEFAULT_TRUE_VALUES))

    @field_validator("accepted", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [normalize(_text(v)) for v in value] if isinstance(value, list) else value


class Scope(_Strict):
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
        return [normalize(_text(v)) for v in value] if isinstance(value, list) else value

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


class Condition(_Strict):
    """Rows whose `column` (normalised) is one of `is_one_of`."""

    column: str
    is_one_of: list[str]

    @field_validator("is_one_of", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [normalize(_text(v)) for v in value] if isinstance(value, list) else value


class Filters(_Strict):
    consent: ConsentFilter | None = None
    scope: list[Scope] = Field(default_factory=list)


class Dedup(_Strict):
    """Re-sent case ids: keep the version with the latest `order_by` date (ties: last row)."""

    order_by: str
    date_format: str


class Quality(_Strict):
    """Thresholds the gates apply to this contributor."""

    max_unmapped_share: float = Field(0.02, ge=0, le=1)
    #: The raw gate blocks a delivery with this share fewer records than the one before
    #: (lost records?) or this many times more, until `ctdc accept` accepts it.
    max_record_drop: float = Field(0.2, ge=0, le=1)
    max_record_growth: float = Field(5.0, gt=1)
    max_unmapped_share_by_variable: dict[str, float] = Field(default_factory=dict)
    list_consistency: Literal["error", "warning"] = "error"


# --------------------------------------------------------------------------- rules


class CopyRule(_Strict):
    """Take the column as delivered; values outside the standard's value set -> missing."""

    copy_: str = Field(alias="copy")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConstantRule(_Strict):
    constant: str

    @field_validator("constant", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _text(value)


class ValueMap(_Strict):
    column: str
    values: dict[str, str] = Field(default_factory=dict)
    accept_standard_codes: bool = True  # a source value spelled like a code maps to it
    missing: str | None = None  # target for blank / missing spellings (default -99)
    unmapped: str | None = None  # target for values not in the map (default -99)

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_text(k): _text(v) for k, v in value.items()}
        return value

    @field_validator("missing", "unmapped", mode="before")
    @classmethod
    def _target_text(cls, value: Any) -> Any:
        return None if value is None else _text(value)


class MapRule(_Strict):
    map: ValueMap


#: What a blank source value means, a code of the target variable (None: -99).
BlankMeans = Annotated[str | None, BeforeValidator(lambda v: None if v is None else _text(v))]


class FlagSource(_Strict):
    """A yes/no column -> 1 / 0 (spellings from the crosswalk's `booleans`)."""

    column: str
    missing: BlankMeans = None  # what a blank means (default -99: not recorded)


class FlagRule(_Strict):
    flag: FlagSource


class DateSource(_Strict):
    column: str
    date_format: str
    missing: BlankMeans = None  # what a blank date means (default -99: not recorded)


class YearRule(_Strict):
    year: DateSource


class AgeSource(_Strict):
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


class AgeRule(_Strict):
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


class MajorityRule(_Strict):
    majority: MajoritySource


class CountrySource(_Strict):
    column: str
    overrides: dict[str, str] = Field(default_factory=dict)  # known misspellings -> alpha-2
    fuzzy: bool = True  # try country_converter's name patterns and close spellings
    missing: str | None = None  # default: the standard's unknown country (00)
    unmapped: str | None = None  # default: the standard's unknown country (00)

    @field_validator("overrides", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_text(k): _text(v) for k, v in value.items()}
        return value


class CountryRule(_Strict):
    country: CountrySource


class ListSource(_Strict):
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
            if target is None or _text(target) == "-99":
                out[_text(key)] = []
            elif isinstance(target, list):
                out[_text(key)] = [_text(t) for t in target]
            else:
                out[_text(key)] = [_text(target)]
        return out

    @field_validator("unlisted", "missing", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else value


class ListRule(_Strict):
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
_RULE_TYPES: dict[str, set[str]] = {
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


def _parse_rule(value: Any) -> Any:
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


# --------------------------------------------------------------------------- crosswalk


class Booleans(_Strict):
    true: list[str] = Field(default_factory=lambda: list(DEFAULT_TRUE_VALUES))
    false: list[str] = Field(default_factory=lambda: list(DEFAULT_FALSE_VALUES))

    @field_validator("true", "false", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [normalize(_text(v)) for v in value] if isinstance(value, list) else value


class Crosswalk(_Strict):
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
        return [normalize(_text(v)) for v in value] if isinstance(value, list) else value

    @field_validator("variables", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        errors: list[str] = []
        for name, rule in value.items():
            try:
                out[name] = _parse_rule(rule)
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


def _did_you_mean(name: str, options: list[str]) -> str:
    hint = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def check_against_standard(cw: Crosswalk, std: Standard) -> list[str]:
    """Every problem of the crosswalk against the standard, as 'key: message'."""
    problems: list[str] = []
    published = std.columns
    produced_by_list: dict[str, str] = {}
    for var, rule in cw.variables.items():
        if var not in published:
            problems.append(
                f"variables.{var}: not a variable of the standard{_did_you_mean(var, published)}"
            )
            continue
        kind = rule_kind(rule)
        vtype = std.variable(var).type
        if vtype not in _RULE_TYPES[kind]:
            problems.append(f"variables.{var}: rule `{kind}` cannot produce a {vtype} variable")
            continue
        problems += _check_rule(var, kind, rule, std)
        if isinstance(rule, ListRule):
            for flag in std.variable(var).flags or []:
                produced_by_list[flag] = var
            produced_by_list.update(dict.fromkeys(rule.list.combined, var))
    for flag, list_var in produced_by_list.items():
        if flag in cw.variables:
            problems.append(
                f"variables.{flag}: already produced by the list rule of {list_var}; remove one"
            )
    if cw.dedup and not cw.case_id:
        problems.append("dedup: needs `case_id` (re-sent cases are recognised by their id)")
    if cw.case_id and cw.case_id not in cw.identifiers:
        problems.append(f"case_id: {cw.case_id!r} must also be listed in `identifiers`")
    for var in cw.quality.max_unmapped_share_by_variable:
        if var not in published:
            problems.append(
                f"quality.max_unmapped_share_by_variable.{var}: not a variable of the standard"
                f"{_did_you_mean(var, published)}"
            )
    return problems


def _check_rule(var: str, kind: str, rule: Rule, std: Standard) -> list[str]:
    problems: list[str] = []
    vtype = std.variable(var).type
    allowed = std.allowed_values(var) if vtype != "list" else set()
    where = f"variables.{var}.{kind}"

    def check_target(key: str, value: str | None) -> None:
        if value is not None and value not in allowed:
            shown = ", ".join(sorted(allowed)) if len(allowed) < 30 else "see the standard"
            problems.append(f"{where}.{key}: {value!r} is not a value of {var} ({shown})")

    if isinstance(rule, ConstantRule):
        check_target("constant", rule.constant)
    elif isinstance(rule, MapRule):
        for src, target in rule.map.values.items():
            check_target(f"values.{src}", target)
        check_target("missing", rule.map.missing)
        check_target("unmapped", rule.map.unmapped)
    elif isinstance(rule, CountryRule):
        for src, target in rule.country.overrides.items():
            check_target(f"overrides.{src}", target)
        check_target("missing", rule.country.missing)
        check_target("unmapped", rule.country.unmapped)
    elif isinstance(rule, FlagRule):
        check_target("missing", rule.flag.missing)
    elif isinstance(rule, YearRule):
        check_target("missing", rule.year.missing)
    elif isinstance(rule, AgeRule):
        check_target("missing", rule.age.missing)
    elif isinstance(rule, MajorityRule):
        check_target("missing", rule.majority.missing)
        codes = {v.code for v in std.variable(var).values or []}
        if not {"Minor", "Adult"} <= codes:
            problems.append(f"{where}: {var} is not a majority status (no Minor/Adult codes)")
    elif isinstance(rule, ListRule):
        labels = set(std.list_labels(var).values())
        for src, targets in rule.list.values.items():
            for target in targets:
                if target not in labels:
                    problems.append(
                        f"{where}.values.{src}: {target!r} is not a label of {var} "
                        f"({', '.join(sorted(labels))})"
                    )
        for flag, needed in rule.list.combined.items():
            if flag not in std.columns or std.variable(flag).type != "flag":
                problems.append(f"{where}.combined.{flag}: not a flag of the standard")
            for target in needed:
                if target not in labels:
                    problems.append(f"{where}.combined.{flag}: {target!r} is not a label of {var}")
    return problems


# --------------------------------------------------------------------------- loading


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2-like scalars: only true/false are booleans (`no`, `yes`, `NA` and `on`
    stay text) and dates stay text until the schema parses them. A key given twice
    in one mapping is an error (YAML would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_crosswalk(path: Path) -> Crosswalk:
    """One crosswalk file; errors name the file, the line and the key."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_YamlLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CrosswalkError(f"{path}: cannot read crosswalk: {exc}") from exc
    if not isinstance(data, dict):
        raise CrosswalkError(f"{path}: a crosswalk is a mapping of keys (read, variables, ...)")
    if "name" in data and data["name"] != path.stem:
        raise CrosswalkError(
            f"{path}, line {_line_of(text, ('name',))}: name: {data['name']!r} differs from "
            "the file name; the name is the file stem, remove the key"
        )
    try:
        return Crosswalk.model_validate({**data, "name": path.stem})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            for msg in err["msg"].removeprefix("Value error, ").splitlines():
                key = None if loc else re.match(r"([\w.-]+): ", msg)  # a whole-file check
                where, said = (key.group(1), msg[key.end() :]) if key else (loc, msg)
                line = _line_of(text, tuple(where.split("."))) if where else None
                at = f"line {line}: " if line else ""
                lines.append(f"  {at}{where}: {said}" if where else f"  {said}")
        raise CrosswalkError(f"{path}: invalid crosswalk:\n" + "\n".join(lines)) from None


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """The line (1-based) of the deepest key of `loc` that the YAML text holds."""
    node = yaml.compose(text, Loader=_YamlLoader)
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next((kv for kv in node.value if str(kv[0].value) == part), None)
        if match is None:
            break
        line = match[0].start_mark.line + 1
        node = match[1]
    return line


def load_crosswalks(
    directory: Path, *, broken: dict[str, CrosswalkError] | None = None
) -> dict[str, Crosswalk]:
    """Every `*.yaml` crosswalk in a folder, by contributor name (the file stem).

    With `broken`, a file that does not load is put there (by name) instead of raising:
    the code location loads with the others and shows the error on that contributor.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CrosswalkError(f"{directory}: crosswalk folder not found")
    crosswalks = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            crosswalks[path.stem] = load_crosswalk(path)
        except CrosswalkError as error:
            if broken is None:
                raise
            broken[path.stem] = error
    return crosswalks

"""A crosswalk against the standard: variable names, rule kinds and target values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ctdc_assets.crosswalk.model_rules import (
    RULE_TYPES,
    AgeRule,
    ConstantRule,
    CountryRule,
    FlagRule,
    ListRule,
    ListSource,
    MajorityRule,
    MapRule,
    Rule,
    YearRule,
    rule_kind,
)
from ctdc_assets.standard import Standard

if TYPE_CHECKING:
    from ctdc_assets.crosswalk.model import Crosswalk


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
        if vtype not in RULE_TYPES[kind]:
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
    where = f"variables.{var}.{kind}"
    problems = _check_targets(var, where, _targets(rule), std)
    if isinstance(rule, MajorityRule):
        codes = {v.code for v in std.variable(var).values or []}
        if not {"Minor", "Adult"} <= codes:
            problems.append(f"{where}: {var} is not a majority status (no Minor/Adult codes)")
    elif isinstance(rule, ListRule):
        problems += _check_list(var, where, rule.list, std)
    return problems


def _targets(rule: Rule) -> list[tuple[str, str | None]]:
    """(key, value) of every value of the target variable a rule names."""
    if isinstance(rule, ConstantRule):
        return [("constant", rule.constant)]
    if isinstance(rule, MapRule):
        spec = rule.map
        return [
            *((f"values.{src}", target) for src, target in spec.values.items()),
            ("missing", spec.missing),
            ("unmapped", spec.unmapped),
        ]
    if isinstance(rule, CountryRule):
        country = rule.country
        return [
            *((f"overrides.{src}", target) for src, target in country.overrides.items()),
            ("missing", country.missing),
            ("unmapped", country.unmapped),
        ]
    if isinstance(rule, FlagRule | YearRule | AgeRule | MajorityRule):
        return [("missing", getattr(rule, rule_kind(rule)).missing)]
    return []


def _check_targets(
    var: str, where: str, targets: Iterable[tuple[str, str | None]], std: Standard
) -> list[str]:
    allowed = std.allowed_values(var) if std.variable(var).type != "list" else set()
    shown = ", ".join(sorted(allowed)) if len(allowed) < 30 else "see the standard"
    return [
        f"{where}.{key}: {value!r} is not a value of {var} ({shown})"
        for key, value in targets
        if value is not None and value not in allowed
    ]


def _check_list(var: str, where: str, spec: ListSource, std: Standard) -> list[str]:
    problems: list[str] = []
    labels = set(std.list_labels(var).values())
    for src, targets in spec.values.items():
        for target in targets:
            if target not in labels:
                problems.append(
                    f"{where}.values.{src}: {target!r} is not a label of {var} "
                    f"({', '.join(sorted(labels))})"
                )
    for flag, needed in spec.combined.items():
        if flag not in std.columns or std.variable(flag).type != "flag":
            problems.append(f"{where}.combined.{flag}: not a flag of the standard")
        for target in needed:
            if target not in labels:
                problems.append(f"{where}.combined.{flag}: {target!r} is not a label of {var}")
    return problems

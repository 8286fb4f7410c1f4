"""A starting crosswalk and raw suite for a new contributor, from its first delivery.

The draft loads as it is (so `ctdc contributor check` runs at once): every guess is a
valid rule, and every value map starts empty, with the delivered values listed above it
in a comment for the engineer to map. Values seen only once are not listed (a typo, or
a person's detail typed in the wrong field: the crosswalk is committed to git); the
check names them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from ctdc_assets.crosswalk.model import normalize
from ctdc_assets.onboarding.profile import ColumnProfile, DeliveryProfile, plain
from ctdc_assets.standard import Standard, load_standard

LIST_SEPARATORS = (";", ",", "|", "/")
#: (variable, pattern on the normalised column name, column kinds it may come from)
HINTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("gender", r"\b(gender|sex|sexe|genre|sexo)\b", ("category", "yes_no")),
    ("ageBroad", r"\b(age|edad|years old)\b", ("number", "category", "text")),
    ("yearOfRegistration", r"(regist|report|intake|arriv|open|created|date)", ("date",)),
    ("CountryOfExploitation", r"(exploitation country|country of exploitation|destination)", ()),
    ("citizenship", r"(citizen|nationalit|nacionalidad|\bpays\b|origin|\bcountry\b)", ()),
    ("meansOfControlConcatenated", r"(control|means)", ("category", "text")),
    (
        "typeOfExploitConcatenated",
        r"(exploit|type|forms?|formes?|trafficking)",
        ("category", "text"),
    ),
)
CONSENT = re.compile(r"(consent|accord|agree)")
YES = {"yes", "y", "true", "1", "oui", "si", "ja"}


def _quoted(value: object) -> str:
    """A YAML scalar or flow collection (JSON is YAML), accents kept readable."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Draft:
    crosswalk: str  # YAML text
    suite: dict  # raw suite (GX JSON)
    identifiers: list[str]
    case_id: str | None
    mapped: dict[str, str]  # variable -> source column


def draft(name: str, profile: DeliveryProfile, standard: Standard | None = None) -> Draft:
    standard = standard or load_standard()
    columns = {c.name: c for c in profile.columns}
    identifiers = [c.name for c in profile.columns if c.identifier]
    case_id = next(
        (
            c.name
            for c in profile.columns
            if c.identifying_name
            and re.search(r"\b(id|ref|reference|case|number|no)\b", plain(c.name))
            and c.distinct >= 0.95 * max(c.filled, 1)
        ),
        None,
    )
    consent = next((c for c in profile.columns if CONSENT.search(plain(c.name))), None)
    mapped: dict[str, str] = {}
    for variable, pattern, kinds in HINTS:
        for column in profile.columns:
            if column.name in identifiers or column.name in mapped.values():
                continue
            if (not kinds or column.kind in kinds) and re.search(pattern, plain(column.name)):
                mapped[variable] = column.name
                break
    lines = [
        f"# Draft crosswalk for {name}, written by `ctdc contributor new` from "
        f"{profile.path.name} ({profile.rows} rows).",
        "# Check every guess; map the values listed above each empty `values: {}`; then run",
        f"# `ctdc contributor check {name}`. The rules are explained in crosswalks/README.md.",
        f"description: {_quoted(name + ' (describe the contributor and its deliveries)')}",
        f"read: {_quoted(profile.read)}",
        f"case_id: {_quoted(case_id)}",
        f"identifiers: {_quoted(identifiers)}",
    ]
    used = set(mapped.values()) | set(identifiers) | ({consent.name} if consent else set())
    unused = [c.name for c in profile.columns if c.name not in used]
    lines.append(f"unused_columns: {_quoted(unused)}  # delivered, not needed: check")
    if consent is not None:
        accepted = [v for v in consent.values if normalize(v) in YES] or ["yes"]
        lines += [
            "filters:",
            f"  consent: {{column: {_quoted(consent.name)}, accepted: {_quoted(accepted)}}}",
        ]
    lines += [
        "variables:",
        f"  Datasource: {{constant: {_quoted(_datasource(standard))}}}  # check",
    ]
    for variable, column in mapped.items():
        lines += _rule(variable, columns[column], standard)
    crosswalk = "\n".join(lines) + "\n"
    yaml.safe_load(crosswalk)  # a draft that does not parse is a bug here, not the user's
    return Draft(
        crosswalk, _suite(name, profile, identifiers, case_id), identifiers, case_id, mapped
    )


def _datasource(standard: Standard) -> str:
    values = standard.variable("Datasource").values or []
    return values[0].code if values else standard.missing_code


def _listed(values: dict[str, int]) -> str:
    shown = [f"{v} ({n})" for v, n in values.items() if n > 1]
    once = sum(1 for n in values.values() if n == 1)
    more = f"; {once} value(s) seen once: see `ctdc contributor check`" if once else ""
    return ", ".join(shown) + more


def _rule(variable: str, column: ColumnProfile, standard: Standard) -> list[str]:
    name = _quoted(column.name)
    var = standard.variable(variable)
    if variable == "ageBroad":
        return [
            f"  ageBroad: {{age: {{years: {name}}}}}",
            f"  majorityStatus: {{majority: {{years: {name}}}}}",
        ]
    if variable == "yearOfRegistration":
        date = f"{{column: {name}, date_format: '{column.date_format}'}}"
        return [f"  yearOfRegistration: {{year: {date}}}"]
    if var.type == "country":
        return [f"  {variable}: {{country: {{column: {name}}}}}  # names or ISO codes"]
    if var.type == "list":
        separator = _separator(column)
        items: dict[str, int] = {}
        for value, rows in column.values.items() or []:
            for item in value.split(separator):
                items[item.strip()] = items.get(item.strip(), 0) + rows
        labels = ", ".join(sorted(set(standard.list_labels(variable).values())))
        return [
            f"  {variable}:",
            "    list:",
            f"      column: {name}",
            f"      separator: {_quoted(separator)}",
            f"      # delivered items (rows): {_listed(items) or 'many: see the check'}",
            f"      # labels: {labels}",
            "      values: {}",
        ]
    codes = ", ".join(v.code for v in var.values or [])
    return [
        f"  {variable}:",
        "    map:",
        f"      column: {name}",
        f"      # delivered values (rows): {_listed(column.values)}",
        f"      # codes: {codes}",
        "      values: {}",
    ]


def _separator(column: ColumnProfile) -> str:
    text = "".join(column.values) if column.values else ""
    counts = {s: text.count(s) for s in LIST_SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ";"


def _suite(
    name: str, profile: DeliveryProfile, identifiers: list[str], case_id: str | None
) -> dict:
    columns = [c.name for c in profile.columns]
    expectations = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": columns, "exact_match": False},
            "severity": "critical",
            "description": "a column of the delivery format is missing",
            "meta": {"id": "table.columns"},
        },
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1},
            "severity": "critical",
            "description": "the delivery has no rows",
            "meta": {"id": "table.rows"},
        },
    ]
    if case_id:
        expectations.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": case_id},
                "severity": "critical",
                "description": "has no case id",
                "meta": {"id": f"{case_id}.present"},
            }
        )
    return {
        "name": f"raw/{name}",
        "meta": {
            "ctdc": {
                "gate": f"raw/{name}",
                "description": f"{name}: starting suite written by `ctdc contributor new`.",
                "personal_columns": identifiers,
            }
        },
        "expectations": expectations,
    }

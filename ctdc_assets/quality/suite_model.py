"""Suite files: a suite's JSON read, every expectation checked by GX, as a `Suite`.

Severity is GX's own `severity` field (`critical` blocks, `warning` reports); a suite
must set it on every expectation. An expectation type GX does not know, or kwargs it
rejects, raise `SuiteError` instead of being dropped as `ExpectationSuite(**json)` would.
Each expectation gets a `kind`: how the bridge (`evaluate`) shows it a table.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ctdc_assets.quality import gx_executor

__all__ = ["ExpectationSpec", "Severity", "Suite", "SuiteError", "load_suite"]

Severity = Literal["critical", "warning"]
Status = Literal["passed", "failed", "skipped", "error"]
Kind = Literal["map", "unique", "distinct", "schema", "rows", "full"]

_UNIQUE_TYPES = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
_SCHEMA_TYPES = {
    "expect_column_to_exist",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
}
_ROW_COUNT_TYPES = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
_DISTINCT_TYPES = {
    "expect_column_distinct_values_to_be_in_set",
    "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
}
# Row-wise in GX's class tree, but the answer depends on neighbouring rows.
_ORDER_DEPENDENT_TYPES = {
    "expect_column_values_to_be_increasing",
    "expect_column_values_to_be_decreasing",
    "expect_column_value_z_scores_to_be_less_than",
}
NULL_TYPES = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}


class SuiteError(ValueError):
    """A suite file that cannot be trusted: unknown expectation type, bad kwargs, no severity."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite, as written in its JSON and checked by GX."""

    index: int
    type: str
    kwargs: dict[str, Any]
    severity: Severity
    description: str
    meta: dict[str, Any]
    kind: Kind

    @property
    def columns(self) -> tuple[str, ...]:
        kw = self.kwargs
        if "column" in kw:
            return (kw["column"],)
        if "column_A" in kw:
            return (kw["column_A"], kw["column_B"])
        return tuple(kw.get("column_list", ()))

    @property
    def id(self) -> str:
        return self.meta.get("id") or f"{self.type}({', '.join(self.columns)})"

    @property
    def table(self) -> str:
        return self.meta.get("table", "main")

    @property
    def parameters(self) -> set[str]:
        return {
            v["$PARAMETER"]
            for v in self.kwargs.values()
            if isinstance(v, Mapping) and "$PARAMETER" in v
        }


@dataclass(frozen=True)
class Suite:
    """A loaded, checked suite."""

    name: str
    expectations: tuple[ExpectationSpec, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def ctdc(self) -> dict[str, Any]:
        return self.meta.get("ctdc", {})

    @property
    def derived_columns(self) -> list[dict[str, Any]]:
        return list(self.ctdc.get("derived_columns", []))

    @property
    def personal_columns(self) -> set[str]:
        return set(self.ctdc.get("personal_columns", []))

    def table_options(self, table: str) -> dict[str, Any]:
        return dict(self.ctdc.get("tables", {}).get(table, {}))


def load_suite(
    source: Path | str | Mapping[str, Any], *, gx: gx_executor.GXExecutor | None = None
) -> Suite:
    """Read a suite (file or dict) and check every expectation with GX (`gx`, by default
    the process's `gx_executor.shared()`); raise on anything odd."""
    path = None
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise SuiteError(f"suite {path}: cannot read: {error}") from error
    where = f"suite {path or data.get('name')!r}"
    if not isinstance(data.get("name"), str) or not isinstance(data.get("expectations"), list):
        raise SuiteError(f"{where}: needs a string 'name' and a list 'expectations'")

    problems: list[str] = []
    valid: list[tuple[int, dict[str, Any]]] = []  # (index, GX configuration)
    for i, raw in enumerate(data["expectations"]):
        type_ = raw.get("type") or raw.get("expectation_type")
        kwargs = dict(raw.get("kwargs") or {})
        severity = raw.get("severity")
        if severity not in ("critical", "warning"):
            problems.append(
                f"expectation #{i + 1} ({type_}): severity must be 'critical' or 'warning', "
                f"not {severity!r}"
            )
        elif "row_condition" in kwargs:
            problems.append(
                f"expectation #{i + 1} ({type_}): row_condition is not supported: the bridge "
                "judges distinct values, not rows (check a derived column instead)"
            )
        else:
            config = {"type": type_, "kwargs": kwargs, "severity": severity}
            valid.append((i, config | {k: raw.get(k) for k in ("meta", "description")}))
    specs: list[ExpectationSpec] = []
    checked = (gx or gx_executor.shared()).check([config for _, config in valid])
    for (i, config), verdict in zip(valid, checked, strict=True):
        if verdict.error:
            problems.append(f"expectation #{i + 1} ({config['type']}): {verdict.error}")
            continue
        specs.append(
            ExpectationSpec(
                index=i,
                type=config["type"],
                kwargs=config["kwargs"],
                severity=config["severity"],
                description=config["description"] or _default_description(config["type"]),
                meta=dict(config["meta"] or {}),
                kind=_kind(config["type"], verdict.row_wise),
            )
        )
    if problems:
        raise SuiteError(f"{where}: {len(problems)} bad expectation(s): " + "; ".join(problems))
    return Suite(
        name=data["name"], expectations=tuple(specs), meta=data.get("meta") or {}, path=path
    )


def _default_description(type_: str) -> str:
    return type_.removeprefix("expect_").replace("_", " ")


def _kind(type_: str, row_wise: bool) -> Kind:
    if type_ in _UNIQUE_TYPES:
        return "unique"
    if type_ in _SCHEMA_TYPES:
        return "schema"
    if type_ in _ROW_COUNT_TYPES:
        return "rows"
    if type_ in _DISTINCT_TYPES:
        return "distinct"
    if type_ not in _ORDER_DEPENDENT_TYPES and row_wise:
        return "map"
    return "full"


def suite_label(suite: Suite) -> str:
    """How a suite is named to people: `expectations/raw/hotline.json`, not a full path."""
    if suite.path is None:
        return suite.name
    parts = suite.path.parts
    if "expectations" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("expectations") :])
    return suite.path.name


def with_severity(spec: ExpectationSpec, overrides: Mapping[str, Severity]) -> ExpectationSpec:
    for pattern, severity in overrides.items():
        if fnmatch.fnmatchcase(spec.id, pattern):
            if severity not in ("critical", "warning"):
                raise SuiteError(f"severity override {pattern!r}: {severity!r} is not a severity")
            return replace(spec, severity=severity)
    return spec


def replace(spec: ExpectationSpec, **changes: Any) -> ExpectationSpec:
    return ExpectationSpec(**(asdict(spec) | changes))


def resolve(spec: ExpectationSpec, params: Mapping[str, Any]) -> ExpectationSpec:
    kwargs = {
        k: params[v["$PARAMETER"]] if isinstance(v, Mapping) and "$PARAMETER" in v else v
        for k, v in spec.kwargs.items()
    }
    return replace(spec, kwargs=kwargs)

"""Run a Great Expectations suite (JSON under `expectations/`) on a table; return a gate result.

Why not `dagster-ge`: it only supports GX < 1.0. Why not hand a 92,000-row frame to
GX as is: GX spends ~25 ms per expectation in its own bookkeeping and re-filters the
whole pandas frame per expectation, and at 10M rows the pandas copy alone would not
fit. So the bridge lets GX decide *which values* are unexpected and lets Polars count
*how many rows* hold them:

- row-wise expectations (in set, regex, not null, pair equal, ...) depend only on the
  values in their own columns, so GX sees one row per distinct value (combination)
  of those columns; Polars keeps, per distinct value, its row count and first row
  numbers. Counts, percentages and `mostly` are computed from those, exactly.
- uniqueness sees each duplicated value twice (and nothing else);
- set-based aggregates (distinct values in set, min, max) see the distinct values;
- schema expectations (columns present, types) see the zero-row frame, row-count
  expectations a frame of the right length with no columns;
- anything else (mean, increasing, ...) gets the full columns it names.

All of that runs in one GX validation per kind, against an ephemeral context, in a
process of its own (`gx_process`): its ~4 s import overlaps the run's start-up on the
other core, and the Dagster code location never imports GX.

Severity is GX's own `severity` field (`critical` blocks, `warning` reports); a suite
must set it on every expectation. An expectation type GX does not know, or kwargs it
rejects, raise `SuiteError` instead of being dropped as `ExpectationSuite(**json)` would.
Columns holding personal data are reported with counts only, never values.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import json
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from ctdc_assets.quality import gx_process
from ctdc_assets.quality.derive import TABLE_WISE, VALUE_WISE, derived_expr, source_columns
from ctdc_assets.redaction import configured, redact

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "ExpectationSpec",
    "GateResult",
    "Outcome",
    "Severity",
    "Suite",
    "SuiteError",
    "load_suite",
    "run_suite",
]

Severity = Literal["critical", "warning"]
Status = Literal["passed", "failed", "skipped", "error"]
Kind = Literal["map", "unique", "distinct", "schema", "rows", "full"]

SAMPLE_VALUES = 5  # distinct unexpected values shown per failed expectation
SAMPLE_ROWS = 5  # row numbers kept per failed expectation
MAX_FOUND = 200  # failing values per expectation kept in audit.findings
CHUNK_ROWS = 500_000  # rows prepared at a time: bounds memory (~1.5 GB peak at 10M rows)

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
_NULL_TYPES = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}
_INDEX = "__row__"

# What the identifier gates look for inside values (shown values follow `redaction`).
IDENTIFIER_PATTERNS: dict[str, str] = {
    "e-mail": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone number": r"\+?\d[\d\s().-]{5,}\d",
    "date": r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b",
    "canary": r"[Cc][Aa][Nn][Aa][Rr][Yy]",
}


class SuiteError(ValueError):
    """A suite file that cannot be trusted: unknown expectation type, bad kwargs, no severity."""


# --------------------------------------------------------------------------- suites


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


def load_suite(source: Path | str | Mapping[str, Any]) -> Suite:
    """Read a suite (file or dict) and check every expectation with GX; raise on anything odd."""
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
    checked = gx_process.check([config for _, config in valid])
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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """What one expectation found. Never holds values of personal columns."""

    id: str
    type: str
    description: str
    severity: Severity
    columns: tuple[str, ...]
    status: Status
    table: str = "main"
    unexpected: int | None = None
    evaluated: int | None = None
    rows: tuple[int | str, ...] = ()
    samples: tuple[str, ...] = ()
    observed: str | None = None
    personal: bool = False
    note: str | None = None
    row_label: str = "rows"
    # The failing values as delivered, (value, rows holding it, first row numbers): for
    # `audit.findings` in the warehouse only, never in `to_dict` or any metadata.
    found: tuple[tuple[str, int, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error")

    @property
    def percent(self) -> float | None:
        if self.unexpected is None or not self.evaluated:
            return None
        return 100.0 * self.unexpected / self.evaluated

    def sentence(self, source_file: str | None = None) -> str:
        """One line a person can act on: column, how many rows, why, which rows."""
        where = f"column {', '.join(self.columns)}" if self.columns else "table"
        if self.status == "error":
            return f"{where}: could not be checked ({self.note or 'error'}): {self.description}"
        if self.table != "main":  # side tables (schema, unmapped): their rows are not records
            detail = f" ({'; '.join(self.samples[:3])})" if self.samples else ""
            return f"{where}: {self.description}{detail}"
        if self.unexpected is not None:
            pct = self.percent
            share = f" ({percent_text(pct)})" if pct is not None else ""
            noun = self.row_label if self.unexpected != 1 else self.row_label.removesuffix("s")
            what = f"{self.unexpected:,} {noun}{share} {self.description}"
        else:
            what = self.description + (f" (observed: {self.observed})" if self.observed else "")
        if self.note and self.unexpected is None:
            what += f" ({self.note})"
        text = f"{where}: {what}"
        if self.rows:
            label = self.row_label if len(self.rows) > 1 else self.row_label.removesuffix("s")
            text += f", e.g. {label} " + ", ".join(str(r) for r in self.rows[:3])
            if source_file and self.table == "main":
                text += f" of {source_file}"
        return text


@dataclass
class GateResult:
    """A suite's verdict on one table, ready for Dagster (`to_check_result`) and reports."""

    gate: str
    suite: str
    row_count: int
    outcomes: list[Outcome]
    source_file: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # facts for users, e.g. unmapped shares

    @property
    def evaluated(self) -> int:
        return sum(o.status != "skipped" for o in self.outcomes)

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed and o.severity == "warning"]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    def summary(self) -> str:
        """The check's description: names gate, file, column and first failing rows."""
        of = f" of {self.source_file}" if self.source_file else ""
        if self.critical_failures:
            first, *rest = self.critical_failures
            sentence = first.sentence(self.source_file)
            if self.source_file and self.source_file not in sentence:  # side tables, table-wide
                sentence += f" in {self.source_file}"
            text = f"{self.gate} gate failed: {sentence}"
            if rest:
                more = "; ".join(o.sentence() for o in rest[:2])
                text += f"; also {more}"
                if len(rest) > 2:
                    text += f"; and {len(rest) - 2} more critical failures"
            return text
        if self.warnings:
            first = self.warnings[0]
            extra = f" (+{len(self.warnings) - 1} more)" if len(self.warnings) > 1 else ""
            return (
                f"{self.gate} gate passed with {len(self.warnings)} warning(s) on "
                f"{self.row_count:,} rows{of}: {first.sentence(self.source_file)}{extra}"
            )
        return (
            f"{self.gate} gate passed: {self.evaluated} expectations on {self.row_count:,} rows{of}"
        )

    def failures_markdown(self) -> str:
        """Markdown table of failed expectations (critical first); counts only for personal data."""
        failed = self.critical_failures + self.warnings
        if not failed:
            return "No failed expectations."
        lines = [
            "| severity | column | expectation | unexpected | % | sample values | first rows |",
            "|---|---|---|---:|---:|---|---|",
        ]
        for o in failed:
            if o.personal:
                samples = "_personal data: counts only_"
            elif o.samples:
                samples = ", ".join(f"`{_md(s)}`" for s in o.samples)
            else:
                samples = _md(o.observed or o.note or "")
            count = f"{o.unexpected:,}" if o.unexpected is not None else "–"
            pct = percent_text(o.percent) if o.percent is not None else "–"
            cols = ", ".join(o.columns) or "(table)"
            if o.table != "main":
                cols = f"{o.table}: {cols}"
            rows = ", ".join(str(r) for r in o.rows) or "–"
            lines.append(
                f"| {o.severity} | {_md(cols)} | {_md(o.description)} | {count} | {pct} "
                f"| {samples} | {_md(rows)} |"
            )
        return "\n".join(lines)

    def to_markdown(self, heading_level: int = 3) -> str:
        """A section of the quality report for this gate."""
        verdict = (
            "FAILED" if not self.passed else ("passed with warnings" if self.warnings else "passed")
        )
        head = "#" * heading_level
        parts = [
            f"{head} {self.gate}: {verdict}",
            "",
            f"- suite: `{self.suite}`" + (f", {self.source_file}" if self.source_file else ""),
            f"- rows checked: {self.row_count:,}; expectations evaluated: {self.evaluated}, "
            f"critical failures: {len(self.critical_failures)}, warnings: {len(self.warnings)}"
            + (f", not evaluated: {len(self.skipped)}" if self.skipped else ""),
            "",
            self.failures_markdown(),
        ]
        if self.skipped:
            parts += ["", "Not evaluated: " + "; ".join(f"{o.id} ({o.note})" for o in self.skipped)]
        if self.notes:
            parts += ["", *[f"- {_md(note)}" for note in self.notes]]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (no personal values by construction) for metadata and reports."""
        return {
            "gate": self.gate,
            "suite": self.suite,
            "row_count": self.row_count,
            "source_file": self.source_file,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "outcomes": [
                {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(o).items()
                    if k != "found"
                }
                for o in self.outcomes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        outcomes = [
            Outcome(**{k: tuple(v) if isinstance(v, list) else v for k, v in o.items()})
            for o in data["outcomes"]
        ]
        return cls(
            gate=data["gate"],
            suite=data["suite"],
            row_count=data["row_count"],
            outcomes=outcomes,
            source_file=data.get("source_file"),
            seconds=data.get("seconds", 0.0),
            timings=dict(data.get("timings", {})),
            notes=list(data.get("notes", [])),
        )

    def to_check_result(
        self, *, asset_key: Any = None, check_name: str | None = None
    ) -> dg.AssetCheckResult:
        """A Dagster check result: blocking when a critical expectation failed."""
        import dagster as dg

        metadata: dict[str, Any] = {
            "gate": dg.MetadataValue.text(self.gate),
            "suite": dg.MetadataValue.text(self.suite),
            "rows": dg.MetadataValue.int(self.row_count),
            "evaluated": dg.MetadataValue.int(self.evaluated),
            "failed": dg.MetadataValue.int(len(self.critical_failures)),
            "warnings": dg.MetadataValue.int(len(self.warnings)),
            "skipped": dg.MetadataValue.int(len(self.skipped)),
            "failures": dg.MetadataValue.md(self.failures_markdown()),
            "seconds": dg.MetadataValue.float(round(self.seconds, 3)),
            "result": dg.MetadataValue.json(self.to_dict()),
        }
        if self.source_file:
            metadata["source_file"] = dg.MetadataValue.text(self.source_file)
        if self.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {_md(n)}" for n in self.notes))
        severity = dg.AssetCheckSeverity.ERROR if not self.passed else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(
            passed=self.passed,
            severity=severity,
            description=self.summary(),
            metadata=metadata,
            asset_key=asset_key,
            check_name=check_name,
        )


def delivery_label(date: Any, sha256: str) -> str:
    """How reports name a delivery: its date and checksum, never its file name."""
    return f"the delivery of {date} (sha256 {str(sha256)[:12]})"


def percent_text(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0 or value >= 1:
        return f"{value:.1f}%"
    return f"{value:.2g}%"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(value: Any, allowed: Collection[str] = ()) -> str:
    """A sample value as shown to people: the vocabulary and the suite's own words as
    they are, anything else read from a delivery redacted (`redaction.redact`)."""
    return redact(value, allowed)


# --------------------------------------------------------------------------- running


def builtin_parameters() -> dict[str, Any]:
    """Parameters every suite may use: today's date and year."""
    today = dt.date.today()
    return {"today": today.isoformat(), "current_year": today.year}


def run_suite(
    suite: Suite | Path | str | Mapping[str, Any],
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    gate: str,
    source_file: str | None = None,
    personal_columns: Collection[str] = (),
    row_column: str = "source_row",
    parameters: Mapping[str, Any] | None = None,
    severity_overrides: Mapping[str, Severity] | None = None,
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame] | None = None,
    chunk_rows: int | None = None,
    known_words: Collection[str] = (),
) -> GateResult:
    """Validate `frame` (and any side `tables`) against `suite`.

    - `gate` names the gate in messages, e.g. "raw/hotline".
    - `source_file` (how sentences name the delivery) defaults to the frame's
      `delivery_date` and `delivery_sha256`: never a file name, which may hold a name.
    - `personal_columns`: columns whose values must never be shown (counts only); the
      suite's own `meta.ctdc.personal_columns` are added.
    - `row_column` names rows in messages (1-based source row); when absent, rows are
      numbered by position in the table.
    - `parameters` fill `{"$PARAMETER": name}` kwargs; an expectation whose parameter is
      not given is reported as not evaluated (e.g. no previous delivery to compare with).
    - `severity_overrides` maps expectation ids (glob patterns) to a severity, e.g. a
      crosswalk declaring `{"*.consistent_with_flags": "warning"}`.
    - `tables`: side tables some expectations name in `meta.table` (e.g. `unmapped`);
      `schema` (one row per column: name, Polars type) is always there.
    - `chunk_rows`: rows prepared at a time (default `CHUNK_ROWS`); results do not
      depend on it, memory does.
    - `known_words`: configuration that may be shown besides the standard's vocabulary
      and the suite's own words (e.g. the crosswalk's columns); any other value from
      the data is shown redacted (`ctdc_assets.redaction`).
    """
    started = time.perf_counter()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    params = builtin_parameters() | dict(parameters or {})
    personal = set(personal_columns) | suite.personal_columns
    overrides = dict(severity_overrides or {})

    frames: dict[str, pl.DataFrame | pl.LazyFrame] = {"main": frame, **(tables or {})}
    if "schema" not in frames:  # one row per column: types checked by one pair expectation
        columns = frames["main"].collect_schema()
        frames["schema"] = pl.DataFrame(
            {"column": list(columns), "dtype": [dtype_name(t) for t in columns.values()]},
            schema={"column": pl.String, "dtype": pl.String},
        )
    if source_file is None and "delivery_sha256" in frames["main"].collect_schema():
        found = (
            frames["main"].lazy().select("delivery_date", "delivery_sha256").unique().head(2)
        ).collect()
        if found.height == 1 and found.item(0, 1) is not None:  # one delivery: name it
            source_file = delivery_label(found.item(0, 0), found.item(0, 1))

    outcomes: dict[int, Outcome] = {}
    timings: dict[str, float] = {}
    row_count = 0
    by_table: dict[str, list[ExpectationSpec]] = {}
    for spec in suite.expectations:
        spec = _with_severity(spec, overrides)
        missing = spec.parameters - params.keys()
        if missing:
            note = spec.meta.get("skip_note") or f"parameter {', '.join(sorted(missing))} not given"
            outcomes[spec.index] = _outcome(spec, "skipped", note=note)
        elif spec.table not in frames:
            outcomes[spec.index] = _outcome(spec, "skipped", note=f"table {spec.table} not given")
        else:
            by_table.setdefault(spec.table, []).append(_resolve(spec, params))

    shown_words = configured([s.kwargs for s in suite.expectations]) | {*known_words, *personal}
    for table, specs in by_table.items():
        options = _BUILTIN_TABLES.get(table, {}) | suite.table_options(table)
        rows = options.get("row_column", row_column if table == "main" else None)
        run = _TableRun(
            row_label=options.get("row_label", "rows"),
            frame=frames[table],
            derived=suite.derived_columns if table == "main" else [],
            parameters=params,
            personal=personal,
            row_column=rows,
            chunk_rows=chunk_rows,
            shown_words=shown_words,
        )
        outcomes.update(run.evaluate(specs))
        for name, seconds in run.timings.items():
            timings[name] = timings.get(name, 0.0) + seconds
        if table == "main":
            row_count = run.row_count
    if "main" not in by_table:
        row_count = frames["main"].lazy().select(pl.len()).collect().item()

    return GateResult(
        gate=gate,
        suite=_suite_label(suite),
        row_count=row_count,
        outcomes=[outcomes[s.index] for s in suite.expectations],
        source_file=source_file,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


_BUILTIN_TABLES: dict[str, dict[str, str]] = {
    "schema": {"row_column": "column", "row_label": "columns"},
}


def _suite_label(suite: Suite) -> str:
    """How a suite is named to people: `expectations/raw/hotline.json`, not a full path."""
    if suite.path is None:
        return suite.name
    parts = suite.path.parts
    if "expectations" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("expectations") :])
    return suite.path.name


def dtype_name(dtype: pl.DataType) -> str:
    """A Polars type as written in suites: `Int8`, `String`, `Datetime`..."""
    return str(dtype.base_type())


def _with_severity(spec: ExpectationSpec, overrides: Mapping[str, Severity]) -> ExpectationSpec:
    for pattern, severity in overrides.items():
        if fnmatch.fnmatchcase(spec.id, pattern):
            if severity not in ("critical", "warning"):
                raise SuiteError(f"severity override {pattern!r}: {severity!r} is not a severity")
            return _replace(spec, severity=severity)
    return spec


def _replace(spec: ExpectationSpec, **changes: Any) -> ExpectationSpec:
    return ExpectationSpec(**(asdict(spec) | changes))


def _resolve(spec: ExpectationSpec, params: Mapping[str, Any]) -> ExpectationSpec:
    kwargs = {
        k: params[v["$PARAMETER"]] if isinstance(v, Mapping) and "$PARAMETER" in v else v
        for k, v in spec.kwargs.items()
    }
    return _replace(spec, kwargs=kwargs)


def _outcome(spec: ExpectationSpec, status: Status, **fields: Any) -> Outcome:
    return Outcome(
        id=spec.id,
        type=spec.type,
        description=spec.description,
        severity=spec.severity,
        columns=spec.columns,
        status=status,
        table=spec.table,
        **fields,
    )


DomainMode = Literal["values", "unique", "nullness"]


@dataclass
class _Domain:
    """Distinct values of some columns, with row counts and first rows (from Polars).

    mode "values": one row per distinct value (combination); "unique": each duplicated
    value, twice; "nullness": one row for null, one for any value (not-null checks).
    """

    columns: tuple[str, ...]
    mode: DomainMode

    @property
    def unique(self) -> bool:
        return self.mode == "unique"

    groups: pl.DataFrame | None = None
    names: tuple[str, ...] = ()  # their column names in the wide GX frame
    nonmissing_rows: int | None = None  # unique domains: rows with a value


class _TableRun:
    """Evaluate the expectations of one table: prepare in Polars, decide in GX.

    Preparation reads the table in chunks of `CHUNK_ROWS` (only the columns the
    expectations need, derived columns added per chunk) and keeps, per domain, distinct
    values with row counts; so memory is bounded by the chunk, not the table.
    """

    def __init__(
        self,
        *,
        frame: pl.DataFrame | pl.LazyFrame,
        derived: Sequence[Mapping[str, Any]],
        parameters: Mapping[str, Any],
        personal: set[str],
        row_column: str | None,
        row_label: str = "rows",
        chunk_rows: int | None = None,
        shown_words: Collection[str] = frozenset(),
    ) -> None:
        self.shown_words = shown_words  # may be shown as they are (`redaction.redact`)
        self.row_label = row_label
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.timings: dict[str, float] = {}
        schema = frame.collect_schema()
        self.base_columns = list(schema)
        self.personal = set(personal)
        self.unavailable: dict[str, str] = {}
        self.shown_as: dict[str, str] = {}  # derived column -> the column people know
        # derived column -> (its source columns, expression, how: "row" | "value" | "table")
        self.derived: dict[str, tuple[list[str], pl.Expr, str]] = {}
        for spec in derived:
            if "column" in spec.get("args", {}):
                self.shown_as[spec["name"]] = spec["args"]["column"]
            sources = source_columns(spec)
            lacking = [c for c in sources if c not in schema]
            if lacking:
                self.unavailable[spec["name"]] = f"derived from missing column {lacking[0]}"
                continue
            how = "row"
            if spec.get("function") in TABLE_WISE:
                how = "table"
            elif spec.get("function") in VALUE_WISE and len(sources) == 1:
                how = "value"
            self.derived[spec["name"]] = (sources, derived_expr(spec, parameters), how)
            if self.personal & set(sources):
                self.personal.add(spec["name"])
        self.positional = row_column is None or row_column not in schema
        if self.positional:  # rows are named by position, numbered chunk by chunk
            row_column = "__position__"
        self.row_column = row_column
        self.frame = frame
        self.columns = set(schema) | set(self.derived)
        self.row_count = 0
        self._table_maps: dict[str, pl.DataFrame] = {}

    def _prepare(self, frame: pl.DataFrame, names: Collection[str]) -> pl.DataFrame:
        """Add the derived columns `names` to a chunk.

        Row-wise ones are computed on the chunk, value-wise ones once per distinct value,
        table-wise ones (counts) once on the whole table, then joined.
        """
        per_value: dict[str, list[pl.Expr]] = {}
        row_wise = []
        for name in names:
            sources, expr, how = self.derived[name]
            if how == "value":
                per_value.setdefault(sources[0], []).append(expr)
            elif how == "table":
                if name not in self._table_maps:  # count_by, the only table-wise function
                    self._table_maps[name] = (
                        self.frame.lazy()
                        .group_by(sources[0])
                        .agg(pl.len().cast(pl.Int64).alias(name))
                        .collect()
                    )
                frame = frame.join(
                    self._table_maps[name],
                    on=sources[0],
                    how="left",
                    nulls_equal=True,
                    maintain_order="left",
                )
            else:
                row_wise.append(expr)
        for source, exprs in per_value.items():
            mapping = frame.select(source).unique().with_columns(exprs)
            frame = frame.join(
                mapping, on=source, how="left", nulls_equal=True, maintain_order="left"
            )
        return frame.with_columns(row_wise) if row_wise else frame

    def _chunks(self, columns: Collection[str]) -> Iterator[pl.DataFrame]:
        """The table with `columns` (derived ones computed), one chunk at a time.

        Slices of a DataFrame are views; slices of a LazyFrame (e.g. a Parquet scan) read
        only their rows and columns, so a 10M-row table never has to fit in memory.
        """
        derived = [c for c in columns if c in self.derived]
        base = {c for c in columns if c not in self.derived} | {self.row_column}
        for name in derived:
            base.update(self.derived[name][0])
        names = [c for c in self.frame.collect_schema() if c in base]
        narrow = self.frame.select(names or self.base_columns[:1])
        offset = 0
        while True:
            chunk = narrow.slice(offset, self.chunk_rows)
            if isinstance(chunk, pl.LazyFrame):
                chunk = chunk.collect()
            if self.positional:
                chunk = chunk.with_row_index(self.row_column, offset=offset + 1)
            height = chunk.height
            if height or offset == 0:
                prepared = self._prepare(chunk, derived)
                del chunk  # keep one chunk alive at a time
                yield prepared
                del prepared
            if height < self.chunk_rows:
                return
            offset += self.chunk_rows

    def _prepared(self, columns: Collection[str]) -> pl.DataFrame:
        """The whole table with `columns` (for the rare expectations that need every row)."""
        return pl.concat(list(self._chunks(columns)))

    def _tick(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - since
        return now

    def evaluate(self, specs: list[ExpectationSpec]) -> dict[int, Outcome]:
        started = time.perf_counter()
        out: dict[int, Outcome] = {}
        runnable: list[ExpectationSpec] = []
        for spec in specs:
            absent = [c for c in spec.columns if c not in self.columns]
            if absent and spec.kind != "schema":
                reason = self.unavailable.get(absent[0], "not in the table")
                out[spec.index] = self._outcome(
                    spec,
                    "failed",
                    observed=f"column {absent[0]} missing",
                    note=reason,
                    personal=self._is_personal(spec),
                )
            else:
                runnable.append(spec)

        domains = self._domains([s for s in runnable if s.kind in ("map", "unique", "distinct")])
        t = self._tick("prepare", started)

        wide = [s for s in runnable if s.kind in ("map", "unique", "distinct")]
        if wide:
            frame, configs = self._wide_frame(wide, domains)
            t = self._tick("prepare", t)
            results = gx_process.validate(frame, configs, [_INDEX])
            t = self._tick("gx", t)
            for spec in wide:
                out[spec.index] = self._map_outcome(spec, domains[self._key(spec)], results)
        for kind in ("schema", "rows", "full"):
            group = [s for s in runnable if s.kind == kind]
            if not group:
                continue
            frame, index = self._plain_frame(kind, group)
            t = self._tick("prepare", t)
            configs = [self._config(s, {}) for s in group]
            results = gx_process.validate(frame, configs, index)
            t = self._tick("gx", t)
            for spec in group:
                out[spec.index] = self._plain_outcome(spec, results[spec.index])
        return out

    # ----- preparation

    @staticmethod
    def _key(spec: ExpectationSpec) -> tuple[tuple[str, ...], DomainMode]:
        if spec.kind == "unique":
            return (spec.columns, "unique")
        if spec.type in _NULL_TYPES:
            return (spec.columns, "nullness")
        return (spec.columns, "values")

    def _domains(
        self, specs: list[ExpectationSpec]
    ) -> dict[tuple[tuple[str, ...], DomainMode], _Domain]:
        """Per domain: distinct values, row counts, first rows; chunk by chunk, then merged."""
        domains: dict[tuple[tuple[str, ...], DomainMode], _Domain] = {}
        for spec in specs:
            key = self._key(spec)
            domains.setdefault(key, _Domain(*key))
        needed = {c for d in domains.values() for c in d.columns}
        parts: dict[tuple[tuple[str, ...], DomainMode], list[pl.DataFrame]] = {
            k: [] for k in domains
        }
        nonmissing: dict[tuple[tuple[str, ...], DomainMode], int] = dict.fromkeys(domains, 0)
        key_hashes: dict[tuple[tuple[str, ...], DomainMode], list[pl.DataFrame]] = {
            k: [] for k, d in domains.items() if d.unique
        }
        rows = pl.col(self.row_column)
        counts = [pl.len().alias("__n__"), rows.head(SAMPLE_ROWS).alias("__rows__")]
        self.row_count = 0
        schema = pl.Schema()
        for chunk in self._chunks(needed):
            self.row_count += chunk.height
            schema = chunk.schema
            for key, domain in domains.items():
                cols = list(domain.columns)
                if domain.mode == "nullness":
                    nulls = [pl.col(c).is_null().alias(f"__null{i}__") for i, c in enumerate(cols)]
                    part = (
                        chunk.group_by(nulls)
                        .agg(*[pl.col(c).first() for c in cols], *counts)
                        .drop([f"__null{i}__" for i in range(len(cols))])
                    )
                    parts[key].append(_compact(part))
                elif domain.unique:  # pass 1: how often each key occurs, by 64-bit hash
                    present = ~pl.all_horizontal([pl.col(c).is_null() for c in cols])
                    keyed = chunk.filter(present).select(_key_hash(cols))
                    nonmissing[key] += keyed.height
                    key_hashes[key].append(keyed.group_by("__h__").agg(pl.len().alias("__n__")))
                else:
                    parts[key].append(_compact(chunk.group_by(cols).agg(*counts)))
            del chunk  # before the next one is read
        for key, hashes in key_hashes.items():  # pass 2: rows of the duplicated keys only
            cols = list(domains[key].columns)
            repeated = (
                pl.concat(hashes)
                .group_by("__h__")
                .agg(pl.col("__n__").sum())
                .filter(pl.col("__n__") > 1)
                .get_column("__h__")
            )
            if repeated.len():
                for chunk in self._chunks(cols):
                    hit = chunk.filter(_key_hash(cols).is_in(repeated.implode()))
                    parts[key].append(_compact(hit.group_by(cols).agg(*counts)))
        for key, domain in domains.items():
            cols = list(domain.columns)
            types = pl.Schema({**schema, "__rows__": schema[self.row_column]})
            merged = _merge_groups(parts[key], cols, types)
            if domain.unique:
                merged = merged.filter(pl.col("__n__") > 1)
                domain.nonmissing_rows = nonmissing[key]
            domain.groups = merged
        return domains

    def _wide_frame(
        self,
        specs: list[ExpectationSpec],
        domains: dict[tuple[tuple[str, ...], DomainMode], _Domain],
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """One frame holding every domain's distinct values side by side."""

        def height(d: _Domain) -> int:
            assert d.groups is not None
            return 2 * d.groups.height if d.unique else d.groups.height

        size = max((height(d) for d in domains.values()), default=0)
        aggregated = {self._key(s) for s in specs if s.kind == "distinct"}
        data: dict[str, pl.Series] = {_INDEX: pl.int_range(size, eager=True).alias(_INDEX)}
        for k, (key, domain) in enumerate(domains.items()):
            assert domain.groups is not None
            # Padding up to `size` is never read (the index says it is padding), but GX
            # evaluates it: missing values cost nothing where GX skips them, that is in
            # one-column map expectations (null checks have their own domain) and
            # uniqueness. Elsewhere the first value, repeated, keeps the verdict as is.
            skipped = domain.unique or (
                domain.mode == "values" and len(domain.columns) == 1 and key not in aggregated
            )
            names = []
            for j, column in enumerate(domain.columns):
                values = domain.groups.get_column(column)
                if domain.unique:  # each duplicated value twice, then nothing
                    values = values.gather([i // 2 for i in range(2 * values.len())])
                if skipped:
                    pad = pl.Series(column, [None] * (size - values.len()), dtype=values.dtype)
                else:
                    pad = values.gather([0] * (size - values.len())) if values.len() else None
                if pad is not None and pad.len():
                    values = pl.concat([values, pad])
                name = f"d{k}c{j}"
                data[name] = values.alias(name)
                names.append(name)
            domain.names = tuple(names)
        configs = []
        for spec in specs:
            rename = dict(zip(spec.columns, domains[self._key(spec)].names, strict=True))
            configs.append(self._config(spec, rename, drop_mostly=True))
        return pl.DataFrame(list(data.values())), configs

    def _plain_frame(
        self, kind: str, specs: list[ExpectationSpec]
    ) -> tuple[pl.DataFrame | int, list[str]]:
        """The frame GX sees for `kind`: no rows (schema), a row count (rows), or all rows."""
        if kind == "schema":
            return self.frame.lazy().select(self.base_columns).head(0).collect(), []
        if kind == "rows":
            return self.row_count, []
        cols = sorted({c for s in specs for c in s.columns} | {self.row_column})
        return self._prepared(cols), [self.row_column]

    def _config(
        self, spec: ExpectationSpec, rename: Mapping[str, str], *, drop_mostly: bool = False
    ) -> dict[str, Any]:
        kwargs = dict(spec.kwargs)
        for key in ("column", "column_A", "column_B"):
            if key in kwargs:
                kwargs[key] = rename.get(kwargs[key], kwargs[key])
        if "column_list" in kwargs:
            kwargs["column_list"] = [rename.get(c, c) for c in kwargs["column_list"]]
        if drop_mostly:
            kwargs.pop("mostly", None)  # applied to row counts, not to distinct values
        return {
            "type": spec.type,
            "kwargs": kwargs,
            "meta": {"_i": spec.index},
            "severity": spec.severity,
        }

    # ----- interpretation

    def _is_personal(self, spec: ExpectationSpec) -> bool:
        return bool(spec.meta.get("personal")) or bool(self.personal & set(spec.columns))

    def _outcome(self, spec: ExpectationSpec, status: Status, **fields: Any) -> Outcome:
        shown = (
            fields.pop("columns", None)
            or spec.meta.get("columns")
            or [self.shown_as.get(c, c) for c in spec.columns]
        )
        fields.setdefault("personal", self._is_personal(spec))
        return Outcome(
            id=spec.id,
            type=spec.type,
            description=spec.description,
            severity=spec.severity,
            columns=tuple(dict.fromkeys(shown)),
            status=status,
            table=spec.table,
            row_label=self.row_label,
            **fields,
        )

    def _map_outcome(
        self, spec: ExpectationSpec, domain: _Domain, results: dict[int, Any]
    ) -> Outcome:
        result = results[spec.index]
        personal = self._is_personal(spec)
        error = _exception(result)
        if error:
            return self._outcome(
                spec, "error", note=error if not personal else "evaluation error", personal=personal
            )
        groups = domain.groups
        assert groups is not None
        if spec.kind == "distinct":
            observed = (
                None if personal else _short(result.result.get("observed_value"), self.shown_words)
            )
            status: Status = "passed" if result.success else "failed"
            return self._outcome(spec, status, observed=observed, personal=personal)

        positions = {int(d[_INDEX]) for d in result.result.get("unexpected_index_list") or []}
        if domain.unique:
            hit = sorted({p // 2 for p in positions if p < 2 * groups.height})
        else:
            hit = sorted(p for p in positions if p < groups.height)
        bad = groups[hit] if hit else groups.clear()
        unexpected = int(bad.get_column("__n__").sum()) if bad.height else 0
        evaluated = self._evaluated(spec, domain)
        mostly = spec.kwargs.get("mostly")
        if mostly is not None and evaluated:
            success = (evaluated - unexpected) / evaluated >= float(mostly)
        else:
            success = unexpected == 0
        allowed = self.shown_words
        rows = tuple(
            r if isinstance(r, int) else _short(r, allowed)  # side tables: column names
            for r in sorted(
                {r for rs in bad.get_column("__rows__").to_list() for r in rs}, key=_row_key
            )[:SAMPLE_ROWS]
        )
        samples: tuple[str, ...] = ()
        found: tuple[tuple[str, int, str], ...] = ()
        if not personal and bad.height:
            first_row = pl.col("__rows__").list.first()
            ordered = bad.sort([pl.col("__n__"), first_row], descending=[True, False])
            top = ordered.head(SAMPLE_VALUES)
            found = tuple(
                (
                    " / ".join("null" if row[c] is None else str(row[c]) for c in domain.columns),
                    int(row["__n__"]),
                    ", ".join(str(r) for r in row["__rows__"][:SAMPLE_ROWS]),
                )
                for row in ordered.head(MAX_FOUND).iter_rows(named=True)
            )
            if spec.table == "main":  # value (rows holding it)
                samples = tuple(
                    " / ".join(_short(row[c], allowed) for c in domain.columns)
                    + f" ({row['__n__']:,})"
                    for row in top.iter_rows(named=True)
                )
            else:  # side tables: one row per column or variable, so name the fields
                samples = tuple(
                    ", ".join(f"{c}={_short(row[c], allowed)}" for c in domain.columns)
                    for row in top.iter_rows(named=True)
                )
        named: dict[str, Any] = {}
        if spec.meta.get("columns_from_rows") and rows:
            named["columns"] = [str(r) for r in rows]
        if spec.meta.get("columns_from_values") and bad.height:
            # derived values list the offending columns ("isAbduction=2, gender"): name them
            column = domain.columns[0]
            found: dict[str, int] = {}
            for value, n in bad.select(column, "__n__").iter_rows():
                for item in str(value).split(", "):
                    name = item.split("=", 1)[0]
                    found[name] = found.get(name, 0) + n
            named["columns"] = sorted(found, key=lambda c: (-found[c], c))
        return self._outcome(
            spec,
            "passed" if success else "failed",
            unexpected=unexpected,
            evaluated=evaluated,
            rows=rows,
            samples=samples,
            personal=personal,
            found=found,
            **named,
        )

    def _evaluated(self, spec: ExpectationSpec, domain: _Domain) -> int:
        """Rows GX would look at: all, minus those its missing-value rule ignores."""
        if domain.unique:
            return int(domain.nonmissing_rows or 0)
        groups = domain.groups
        assert groups is not None
        nulls = [pl.col(c).is_null() for c in domain.columns]
        if spec.type in _NULL_TYPES:
            return self.row_count
        if len(nulls) == 1:
            ignored = nulls[0]
        else:
            rule = spec.kwargs.get("ignore_row_if") or (
                "both_values_are_missing"
                if len(nulls) == 2 and "column_A" in spec.kwargs
                else "all_values_are_missing"
            )
            if rule in ("both_values_are_missing", "all_values_are_missing"):
                ignored = pl.all_horizontal(nulls)
            elif rule in ("either_value_is_missing", "any_value_is_missing"):
                ignored = pl.any_horizontal(nulls)
            else:
                ignored = pl.lit(False)
        missing = groups.filter(ignored).get_column("__n__").sum()
        return self.row_count - int(missing or 0)

    def _plain_outcome(self, spec: ExpectationSpec, result: Any) -> Outcome:
        personal = self._is_personal(spec)
        error = _exception(result)
        if error:
            return self._outcome(
                spec, "error", note=error if not personal else "evaluation error", personal=personal
            )
        res = result.result or {}
        status: Status = "passed" if result.success else "failed"
        allowed = self.shown_words
        observed = res.get("observed_value")
        details = res.get("details") or {}
        if isinstance(details.get("mismatched"), dict):  # columns to match set / ordered list
            mismatch = details["mismatched"]
            kinds = ["missing"] + (["unexpected"] if spec.kwargs.get("exact_match", True) else [])
            observed = "; ".join(
                f"{k}: {', '.join(_short(m, allowed) for m in mismatch[k])}"
                for k in kinds
                if mismatch.get(k)
            )
        elif isinstance(details.get("mismatched"), list):
            observed = "; ".join(_short(m, allowed) for m in details["mismatched"][:5])
        elif observed is not None and not isinstance(observed, int | float):
            observed = _short(observed, allowed)
        unexpected = res.get("unexpected_count")
        rows: tuple[int | str, ...] = ()
        if res.get("unexpected_index_list"):
            rows = tuple(
                r if isinstance(r, int) else _short(r, allowed)
                for r in sorted(
                    (d[self.row_column] for d in res["unexpected_index_list"]), key=_row_key
                )[:SAMPLE_ROWS]
            )
        return self._outcome(
            spec,
            status,
            unexpected=unexpected,
            evaluated=res.get("element_count") if unexpected is not None else None,
            rows=rows,
            observed=None if personal or observed is None else _short_list(observed),
            personal=personal,
        )


def _row_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def _short_list(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def _exception(result: Any) -> str | None:
    info = result.exception_info or {}
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for item in candidates:
        if item.get("raised_exception"):
            message = str(item.get("exception_message") or "error").splitlines()[0]
            return message[:200]
    return None


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy with its own buffers: Polars strings are views, and a 5-row group table cut
    from a chunk would otherwise keep the whole chunk's text alive (memory grew by the
    chunk, every chunk, at 10M rows)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)


def _key_hash(columns: list[str]) -> pl.Expr:
    """A 64-bit hash of a key (one or more columns): uniqueness without holding the keys."""
    if len(columns) == 1:
        return pl.col(columns[0]).hash().alias("__h__")
    return pl.struct(columns).hash().alias("__h__")


def _merge_groups(parts: list[pl.DataFrame], columns: list[str], schema: pl.Schema) -> pl.DataFrame:
    """Combine per-chunk group tables: sum the counts, keep the first row numbers."""
    if not parts:
        return pl.DataFrame(
            schema={c: schema[c] for c in columns}
            | {"__n__": pl.UInt32, "__rows__": pl.List(schema["__rows__"])}
        )
    if len(parts) == 1:
        return parts[0]
    return (
        pl.concat(parts, how="vertical_relaxed")
        .group_by(columns, maintain_order=True)
        .agg(
            pl.col("__n__").sum(),
            pl.col("__rows__").flatten().sort().head(SAMPLE_ROWS),
        )
    )

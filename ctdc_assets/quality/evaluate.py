"""Run a Great Expectations suite (JSON under `expectations/`) on a table; return a gate result.

Why not `dagster-ge`: it only supports GX < 1.0. Why not GX on the whole frame: see
`prepare`, which shows GX the distinct values of a table's columns, read in chunks by
Polars; `interpret` turns GX's verdicts back into row counts. All of that runs in one
GX validation per kind, against an ephemeral context, in a worker process of its own
(`gx_executor`): its ~4 s import overlaps the run's start-up on the other core, and
the Dagster code location never imports GX.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ctdc_assets.landing import delivery_label
from ctdc_assets.quality.gx_executor import GXExecutor, shared
from ctdc_assets.quality.interpret import map_outcome, outcome, plain_outcome
from ctdc_assets.quality.prepare import INDEX, PreparedTable, config, domain_key
from ctdc_assets.quality.results import GateResult, Outcome
from ctdc_assets.quality.suite_model import (
    ExpectationSpec,
    Severity,
    Suite,
    load_suite,
    resolve,
    suite_label,
    with_severity,
)
from ctdc_assets.redaction import configured

__all__ = ["builtin_parameters", "dtype_name", "run_suite"]

_BUILTIN_TABLES: dict[str, dict[str, str]] = {
    "schema": {"row_column": "column", "row_label": "columns"},
}
_WIDE_KINDS = ("map", "unique", "distinct")  # judged on distinct values, side by side


def builtin_parameters() -> dict[str, Any]:
    """Parameters every suite may use: today's date and year."""
    today = dt.date.today()
    return {"today": today.isoformat(), "current_year": today.year}


def dtype_name(dtype: pl.DataType) -> str:
    """A Polars type as written in suites: `Int8`, `String`, `Datetime`..."""
    return str(dtype.base_type())


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
    gx: GXExecutor | None = None,
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
    - `gx`: the GX worker (the gates' resource hands theirs); by default the process's
      `gx_executor.shared()`.
    """
    started = time.perf_counter()
    gx = gx or shared()
    if not isinstance(suite, Suite):
        suite = load_suite(suite, gx=gx)
    params = builtin_parameters() | dict(parameters or {})
    personal = set(personal_columns) | suite.personal_columns
    frames = _frames(frame, tables)
    if source_file is None:
        source_file = _delivery_name(frames["main"])
    outcomes, by_table = _plan(suite, frames, params, dict(severity_overrides or {}))

    timings: dict[str, float] = {}
    row_count = 0
    shown_words = configured([s.kwargs for s in suite.expectations]) | {*known_words, *personal}
    for table, specs in by_table.items():
        options = _BUILTIN_TABLES.get(table, {}) | suite.table_options(table)
        prepared = PreparedTable(
            row_label=options.get("row_label", "rows"),
            frame=frames[table],
            derived=suite.derived_columns if table == "main" else [],
            parameters=params,
            personal=personal,
            row_column=options.get("row_column", row_column if table == "main" else None),
            chunk_rows=chunk_rows,
            shown_words=shown_words,
        )
        outcomes.update(_evaluate(prepared, specs, gx, timings))
        if table == "main":
            row_count = prepared.row_count
    if "main" not in by_table:
        row_count = frames["main"].lazy().select(pl.len()).collect().item()

    return GateResult(
        gate=gate,
        suite=suite_label(suite),
        row_count=row_count,
        outcomes=[outcomes[s.index] for s in suite.expectations],
        source_file=source_file,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def _frames(
    frame: pl.DataFrame | pl.LazyFrame, tables: Mapping[str, pl.DataFrame | pl.LazyFrame] | None
) -> dict[str, pl.DataFrame | pl.LazyFrame]:
    """The tables a suite may name: `main`, the side tables, and `schema`."""
    frames: dict[str, pl.DataFrame | pl.LazyFrame] = {"main": frame, **(tables or {})}
    if "schema" not in frames:  # one row per column: types checked by one pair expectation
        columns = frames["main"].collect_schema()
        frames["schema"] = pl.DataFrame(
            {"column": list(columns), "dtype": [dtype_name(t) for t in columns.values()]},
            schema={"column": pl.String, "dtype": pl.String},
        )
    return frames


def _delivery_name(main: pl.DataFrame | pl.LazyFrame) -> str | None:
    """How sentences name the table's delivery, when it holds exactly one."""
    if "delivery_sha256" not in main.collect_schema():
        return None
    found = (main.lazy().select("delivery_date", "delivery_sha256").unique().head(2)).collect()
    if found.height == 1 and found.item(0, 1) is not None:  # one delivery: name it
        return delivery_label(found.item(0, 0), found.item(0, 1))
    return None


def _plan(
    suite: Suite,
    frames: Mapping[str, Any],
    params: Mapping[str, Any],
    overrides: Mapping[str, Severity],
) -> tuple[dict[int, Outcome], dict[str, list[ExpectationSpec]]]:
    """The expectations skipped (a parameter or table not given), and the others by table,
    with their severity overrides applied and parameters filled in."""
    skipped: dict[int, Outcome] = {}
    by_table: dict[str, list[ExpectationSpec]] = {}
    for spec in suite.expectations:
        spec = with_severity(spec, overrides)
        missing = spec.parameters - params.keys()
        if missing:
            note = spec.meta.get("skip_note") or f"parameter {', '.join(sorted(missing))} not given"
            skipped[spec.index] = _skipped(spec, note=note)
        elif spec.table not in frames:
            skipped[spec.index] = _skipped(spec, note=f"table {spec.table} not given")
        else:
            by_table.setdefault(spec.table, []).append(resolve(spec, params))
    return skipped, by_table


def _skipped(spec: ExpectationSpec, note: str) -> Outcome:
    return Outcome(
        id=spec.id,
        type=spec.type,
        description=spec.description,
        severity=spec.severity,
        columns=spec.columns,
        status="skipped",
        table=spec.table,
        note=note,
    )


def _evaluate(
    table: PreparedTable, specs: list[ExpectationSpec], gx: GXExecutor, timings: dict[str, float]
) -> dict[int, Outcome]:
    """The expectations of one table: prepared in Polars, decided in GX (the seconds of
    each added to `timings`)."""
    own: dict[str, float] = {}
    tick = _Stopwatch(own)
    out: dict[int, Outcome] = {}
    runnable: list[ExpectationSpec] = []
    for spec in specs:
        absent = [c for c in spec.columns if c not in table.columns]
        if absent and spec.kind != "schema":
            out[spec.index] = outcome(
                table,
                spec,
                "failed",
                observed=f"column {absent[0]} missing",
                note=table.unavailable.get(absent[0], "not in the table"),
                personal=table.is_personal(spec),
            )
        else:
            runnable.append(spec)

    wide = [s for s in runnable if s.kind in _WIDE_KINDS]
    domains = table.domains(wide)
    tick("prepare")
    if wide:
        frame, configs = table.wide_frame(wide, domains)
        tick("prepare")
        results = gx.validate(frame, configs, [INDEX])
        tick("gx")
        for spec in wide:
            out[spec.index] = map_outcome(table, spec, domains[domain_key(spec)], results)
    for kind in ("schema", "rows", "full"):
        group = [s for s in runnable if s.kind == kind]
        if not group:
            continue
        frame, index = table.plain_frame(kind, group)
        tick("prepare")
        results = gx.validate(frame, [config(s, {}) for s in group], index)
        tick("gx")
        for spec in group:
            out[spec.index] = plain_outcome(table, spec, results[spec.index])
    for name, seconds in own.items():
        timings[name] = timings.get(name, 0.0) + seconds
    return out


class _Stopwatch:
    """Adds the seconds since the last tick to `timings[name]`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now

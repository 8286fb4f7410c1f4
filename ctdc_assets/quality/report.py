"""The quality report of a release: every gate, its verdict, counts and warnings, in Markdown.

It goes into the release bundle so that users of the data see its limitations (re-sent
cases, unmapped source values, inconsistent lists in a contributor's data), not just
the engineers who watch the Dagster UI.

Input is whatever the caller has: `GateResult`s from `run_suite`, or the Dagster
instance's latest `AssetCheckEvaluation`s (see `latest_check_evaluations`); evaluations
written by the GX gates carry their full result in the `result` metadata entry, any
other check (small cells, k-anonymity) is reported from its description and metadata.
Nothing here reads data, so nothing personal can reach the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctdc_assets.dagster_private import latest_check_executions
from ctdc_assets.quality.results import GateResult, md

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["GateEntry", "latest_check_evaluations", "quality_report"]

REPORT_FILE = "QUALITY.md"


@dataclass
class GateEntry:
    """One gate as the report shows it, whatever produced it."""

    gate: str
    passed: bool
    description: str
    result: GateResult | None = None
    figures: dict[str, int | float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> int:
        if self.result is not None:
            return len(self.result.warnings)
        return int(self.figures.get("warnings", 0))

    @property
    def verdict(self) -> str:
        if not self.passed:
            return "FAILED"
        return "passed with warnings" if self.warnings else "passed"

    @classmethod
    def of(cls, item: Any) -> GateEntry:
        """Accept a GateResult, an AssetCheckEvaluation/AssetCheckResult, or a GateEntry."""
        if isinstance(item, GateEntry):
            return item
        if isinstance(item, GateResult):
            return cls(item.gate, item.passed, item.summary(), result=item)
        metadata: Mapping[str, Any] = getattr(item, "metadata", None) or {}
        passed = bool(item.passed)
        description = getattr(item, "description", None) or ""
        raw = metadata.get("result")
        value = getattr(raw, "value", raw)
        if isinstance(value, Mapping) and "outcomes" in value:
            result = GateResult.from_dict(value)
            return cls(result.gate, passed, description or result.summary(), result=result)
        asset_key = getattr(item, "asset_key", None)
        name = asset_key.to_user_string() if asset_key is not None else "check"
        check = getattr(item, "check_name", None)
        figures: dict[str, int | float] = {}
        tables: dict[str, str] = {}
        for key, entry in metadata.items():
            inner = getattr(entry, "value", entry)
            if isinstance(inner, bool):
                continue
            if isinstance(inner, int | float):
                figures[key] = inner
            elif type(entry).__name__ == "MarkdownMetadataValue" and isinstance(inner, str):
                tables[key] = inner
        gate = f"{name} ({check})" if check else name
        return cls(gate, passed, description, figures=figures, tables=tables)


def latest_check_evaluations(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]
) -> list[Any]:
    """The latest evaluation of each check (skipping checks that never ran), for the report."""
    records = latest_check_executions(instance, check_keys)
    evaluations = []
    for key in sorted(records, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        evaluation = records[key].evaluation
        if evaluation is not None:
            evaluations.append(evaluation)
    return evaluations


def quality_report(
    items: Iterable[Any],
    *,
    release_id: str | None = None,
    generated_at: dt.datetime | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The Markdown quality report of a run: summary table, limitations, gate details."""
    entries = sorted((GateEntry.of(item) for item in items), key=_pipeline_order)
    when = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    failed = [e for e in entries if not e.passed]
    warned = sum(e.warnings for e in entries)
    title = f"# Quality report{f' of release {release_id}' if release_id else ''}"
    verdict = (
        f"**{len(failed)} of {len(entries)} gates failed.**"
        if failed
        else f"All {len(entries)} gates passed"
        + (f", with {warned} warning(s) listed under *Limitations*." if warned else ".")
    )
    lines = [
        title,
        "",
        f"Generated {when}. Every layer of the pipeline is gated: a failed critical "
        "expectation stops everything downstream, so a published release passed every "
        "gate below. Warnings do not stop a release; they describe the data's limitations.",
        "",
        verdict,
        "",
        "| gate | result | rows | expectations | critical failures | warnings |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for e in entries:
        r = e.result
        rows = f"{r.row_count:,}" if r else _figure(e.figures, "rows", "records_in_candidate")
        evaluated = str(r.evaluated) if r else "–"
        critical = str(len(r.critical_failures)) if r else ("0" if e.passed else "yes")
        lines.append(
            f"| {md(e.gate)} | {e.verdict} | {rows} | {evaluated} | {critical} | {e.warnings} |"
        )
    lines += ["", "## Limitations", ""]
    limitations = [
        f"- **{md(e.gate)}**: {md(o.sentence(e.result.source_file))}"
        for e in entries
        if e.result
        for o in e.result.warnings
    ]
    limitations += [
        f"- **{md(e.gate)}**: {md(note)}" for e in entries if e.result for note in e.result.notes
    ]
    limitations += [f"- {md(note)}" for note in notes]
    lines += limitations or ["No warnings: the gates found nothing to report."]
    lines += ["", "## Gates", ""]
    for e in entries:
        if e.result is not None:
            lines += [e.result.to_markdown(heading_level=3), ""]
            continue
        lines += [f"### {e.gate}: {e.verdict}", "", md(e.description), ""]
        if e.figures:
            lines += [
                "- "
                + ", ".join(f"{k.replace('_', ' ')}: {_number(v)}" for k, v in e.figures.items()),
                "",
            ]
        for name, table in e.tables.items():
            lines += [f"{name.replace('_', ' ').capitalize()}:", "", table, ""]
    return "\n".join(lines).rstrip() + "\n"


LAYERS = ("raw", "harmonized", "merged", "statistics", "release")


def _pipeline_order(entry: GateEntry) -> tuple[int, str]:
    """Gates in the order data flows through them: raw first, release last."""
    layer = entry.gate.split("/", 1)[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), entry.gate)


def _figure(figures: Mapping[str, int | float], *names: str) -> str:
    for name in names:
        if name in figures:
            return _number(figures[name])
    return "–"


def _number(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"

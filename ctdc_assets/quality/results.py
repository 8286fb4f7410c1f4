"""A gate's result: what each expectation found (`Outcome`) and the suite's verdict on a
table (`GateResult`), told as sentences, Markdown and a Dagster check result.

Columns holding personal data are reported with counts only, never values; any other
value read from a delivery is shown as `redaction.redact` allows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from ctdc_assets.quality.suite_model import Severity, Status
from ctdc_assets.redaction import redact

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["GateResult", "Outcome", "md", "percent_text", "short"]


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
    # Tables of the facts behind the verdict, redacted when made (the unmapped values):
    # title -> [header, *rows], cells as shown (lists: JSON metadata sorts mapping keys).
    listings: dict[str, list[list[str]]] = field(default_factory=dict)

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
                samples = ", ".join(f"`{md(s)}`" for s in o.samples)
            else:
                samples = md(o.observed or o.note or "")
            count = f"{o.unexpected:,}" if o.unexpected is not None else "–"
            pct = percent_text(o.percent) if o.percent is not None else "–"
            cols = ", ".join(o.columns) or "(table)"
            if o.table != "main":
                cols = f"{o.table}: {cols}"
            rows = ", ".join(str(r) for r in o.rows) or "–"
            lines.append(
                f"| {o.severity} | {md(cols)} | {md(o.description)} | {count} | {pct} "
                f"| {samples} | {md(rows)} |"
            )
        return "\n".join(lines)

    def expectations_markdown(self) -> str:
        """Every expectation, one row each, failures first: what the gate checked."""
        order = {"error": 0, "failed": 1, "skipped": 2, "passed": 3}
        rank = {"critical": 0, "warning": 1}
        rows = []
        for o in sorted(
            self.outcomes, key=lambda o: (order.get(o.status, 9), rank.get(o.severity, 9))
        ):
            where = ", ".join(o.columns) or "(table)"
            rows.append(
                [
                    o.id if o.table == "main" else f"{o.table}: {o.id}",
                    where,
                    o.severity,
                    o.status,
                    f"{o.unexpected:,}" if o.unexpected is not None else "–",
                    percent_text(o.percent) or "–",
                    ", ".join(str(r) for r in o.rows[:5]) or "–",
                ]
            )
        head = ["expectation", "column", "severity", "result", "unexpected", "share", "first rows"]
        return _table(head, rows)

    def listings_markdown(self) -> str:
        """The `listings` tables, each under its title."""
        return "\n\n".join(
            f"**{title}**\n\n" + _listing(rows) for title, rows in self.listings.items() if rows
        )

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
        if self.listings:
            parts += ["", self.listings_markdown()]
        if self.skipped:
            parts += ["", "Not evaluated: " + "; ".join(f"{o.id} ({o.note})" for o in self.skipped)]
        if self.notes:
            parts += ["", *[f"- {md(note)}" for note in self.notes]]
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
            "listings": {title: [list(r) for r in rows] for title, rows in self.listings.items()},
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
            listings=dict(data.get("listings", {})),
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
            "expectations": dg.MetadataValue.md(self.expectations_markdown()),
            "seconds": dg.MetadataValue.float(round(self.seconds, 3)),
            "result": dg.MetadataValue.json(self.to_dict()),
        }
        if self.source_file:
            metadata["source_file"] = dg.MetadataValue.text(self.source_file)
        for title, rows in self.listings.items():
            if rows:
                metadata[title.replace(" ", "_")] = dg.MetadataValue.md(_listing(rows))
        if self.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {md(n)}" for n in self.notes))
        severity = dg.AssetCheckSeverity.ERROR if not self.passed else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(
            passed=self.passed,
            severity=severity,
            description=self.summary(),
            metadata=metadata,
            asset_key=asset_key,
            check_name=check_name,
        )


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; cells escaped, kept as text (row lists like `12, 40` too)."""
    cells = [[md(cell) for cell in row] for row in rows]
    return tabulate(cells, headers=head, tablefmt="github", disable_numparse=True)


def _listing(rows: list[list[str]]) -> str:
    return _table(rows[0], rows[1:])


def percent_text(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0 or value >= 1:
        return f"{value:.1f}%"
    return f"{value:.2g}%"


def md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def short(value: Any, allowed: Collection[str] = ()) -> str:
    """A sample value as shown to people: the vocabulary and the suite's own words as
    they are, anything else read from a delivery redacted (`redaction.redact`)."""
    return redact(value, allowed)

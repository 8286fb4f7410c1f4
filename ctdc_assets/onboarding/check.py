"""`ctdc contributor check`: harmonize a delivery in memory, touching nothing.

The engineer's dry run while writing a crosswalk: the pipeline's own reader and
harmonizer with a throw-away pseudonym key, nothing written to the warehouse or the
instance. It prints the actual unmapped values (a terminal of the engineer's; they are
never stored), the coverage of each variable, and the columns that would be dropped
as identifiers or kept in raw only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import (
    CrosswalkError,
    DeliveryError,
    harmonize,
    load_crosswalk,
    read_delivery,
)
from ctdc_assets.crosswalk.readers import unexpected_columns
from ctdc_assets.landing import current_delivery
from ctdc_assets.quality.gates import unmapped_table
from ctdc_assets.quality.suite_model import SuiteError, load_suite
from ctdc_assets.standard import load_standard

SHOWN = 30  # unmapped values printed at most


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def text(self) -> str:
        verdict = ["Check passed."] if self.passed else ["Check FAILED:"]
        return "\n".join([*self.lines, "", *verdict, *(f"  - {p}" for p in self.problems)])


def check_contributor(settings: Settings, name: str, delivery: Path | None = None) -> CheckReport:
    report = CheckReport()
    path = settings.crosswalks_dir / f"{name}.yaml"
    try:
        crosswalk = load_crosswalk(path)
    except CrosswalkError as error:
        report.problems.append(str(error))
        return report
    try:
        if delivery is None:
            found = current_delivery(settings.landing_dir / name, name, crosswalk.read.format)
            delivery = found.path
        frame = read_delivery(crosswalk, delivery)
    except (DeliveryError, FileNotFoundError) as error:
        report.problems.append(str(error))
        return report
    result = harmonize(crosswalk, frame, os.urandom(32))
    counts = result.counts
    unknown = unexpected_columns(crosswalk, frame)
    report.lines += [
        f"{name}: {delivery}",
        f"  rows: {counts['delivered']} delivered, {counts['no_consent']} without consent, "
        f"{counts['out_of_scope']} out of scope, {counts['duplicates']} re-sent duplicates, "
        f"{counts['harmonized']} harmonized",
        f"  identifier columns dropped: {', '.join(crosswalk.identifiers) or 'none'}",
        f"  columns kept in raw only (unknown): {', '.join(unknown) or 'none'}",
        "  coverage (rows with a value):",
    ]
    standard = load_standard()
    harmonized = result.frame
    for variable in crosswalk.variables:
        column = harmonized[variable].cast(str)
        share = (column != standard.missing_code).mean() if harmonized.height else 0.0
        report.lines.append(f"    {variable}: {100 * (share or 0):.1f} %")
    unmapped = result.unmapped
    if unmapped.height:
        report.lines.append(f"  unmapped values ({unmapped.height}; value: rows, first rows):")
        for variable, column, value, rows, first in unmapped.head(SHOWN).iter_rows():
            report.lines.append(f"    {variable} <- {column}: {value!r}: {rows} (rows {first})")
        if unmapped.height > SHOWN:
            report.lines.append(f"    ... and {unmapped.height - SHOWN} more")
    # The harmonized gate's own rule (its share, but at least a few rows allowed), so the
    # check and the gate never disagree.
    over = unmapped_table(
        unmapped,
        result.counts["harmonized"],
        max_share=crosswalk.quality.max_unmapped_share,
        max_share_by_variable=crosswalk.quality.max_unmapped_share_by_variable,
    ).filter(pl.col("rows") > pl.col("allowed_rows"))
    for variable, share, limit in over.select("variable", "share", "max_share").iter_rows():
        report.problems.append(
            f"{variable}: {100 * share:.1f} % of rows unmapped (the limit is "
            f"{100 * limit:.1f} %): map the values listed above"
        )
    suite = settings.expectations_dir / "raw" / f"{name}.json"
    try:
        load_suite(suite)
    except SuiteError as error:
        report.problems.append(f"raw suite: {error} (`ctdc contributor new` writes one)")
    return report

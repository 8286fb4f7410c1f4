"""The record count of a delivery against the delivery before it.

A delivery is a full snapshot of a contributor's cases, so one with far fewer records
than the last is most likely cut short (an export that stopped halfway, a wrong
filter) and would silently remove cases from the release; one with many times more is
most likely another file. Either blocks at the raw gate until an engineer accepts that
delivery (`ctdc accept`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VolumeChange:
    delivery: str
    records: int
    previous_delivery: str
    previous_records: int

    @property
    def ratio(self) -> float:
        return self.records / self.previous_records if self.previous_records else float("inf")

    def describe(self) -> str:
        change = (self.ratio - 1) * 100
        return (
            f"{self.delivery} has {self.records:,} records, the previous delivery "
            f"{self.previous_delivery} had {self.previous_records:,} ({change:+.0f} %)"
        )


def volume_problem(change: VolumeChange, *, max_drop: float, max_growth: float) -> str | None:
    """Why the change blocks the delivery, or None when it is within the limits."""
    if change.previous_records and change.ratio < 1 - max_drop:
        return f"{change.describe()}: more than the {max_drop:.0%} drop allowed (lost records?)"
    if change.ratio > max_growth:
        return f"{change.describe()}: more than {max_growth:g} times as many (another file?)"
    return None

"""The benchmark's settings, its results' shape, and the issue's names for the steps."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
INCREMENTAL = 'key:"raw/hotline"+ and not key:"release/*"'
NEW_DELIVERY = dt.date(2025, 4, 30)
GIB = 1 << 30

# Step key -> the names (gates keep their own names).
STEP_GROUPS = (
    ("raw", re.compile(r"^raw__\w+?(?<!_gate)$")),
    ("harmonize", re.compile(r"^harmonized__\w+?(?<!_gate)$")),
    ("merge", re.compile(r"^merged__victims$")),
    ("gates", re.compile(r"_gate$")),
    ("anonymize", re.compile(r"^release__candidate$")),
    ("statistics", re.compile(r"^statistics__aggregates$")),
    ("dashboard", re.compile(r"^statistics__dashboard$")),
    ("publish", re.compile(r"^release__published$")),
)


def grouped(steps: dict[str, float]) -> dict[str, float]:
    """The issue's step names: raw, harmonize, merge, gates, anonymize, statistics, ..."""
    out: dict[str, float] = {}
    for step, seconds in steps.items():
        for group, pattern in STEP_GROUPS:
            if pattern.search(step):
                out[group] = round(out.get(group, 0.0) + seconds, 3)
                break
        else:
            out["other"] = round(out.get("other", 0.0) + seconds, 3)
    return out


@dataclass
class Bench:
    records: int
    seed: int
    date: str
    machine: dict[str, object]
    selection: str
    incremental_selection: str
    phases: dict[str, dict[str, object]] = field(default_factory=dict)
    rounds: list[dict[str, dict[str, object]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

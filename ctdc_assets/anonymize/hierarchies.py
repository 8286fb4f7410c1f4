"""Generalization hierarchies of the quasi-identifiers, built from the standard.

A hierarchy maps every original value of a quasi-identifier (its leaves: the
standard's allowed values, never restated here) to one output at each level, from
`original` to `suppressed`. The policy says how the levels group leaves (year
periods, age cut points, category groups, UN M49 regions); region data come from
`ctdc_assets.regions` (country_converter's UN M49 sub-regions, or intermediate
regions where M49 has them), shared with the statistics, so no country table is
kept by hand and a country sits in the same region everywhere.

An output is a tuple of strings, one per published column of the hierarchy: a
country quasi-identifier publishes `(country, sub-region, region)`, so k can be
counted on exactly what is published. The missing code (-99) and the unknown
country (00) stay themselves on every level below `suppressed`. Everything is
`suppressed_value` at the top, which is what makes the top node always one class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ctdc_assets.anonymize.policy_model import Level, ReleasePolicy
from ctdc_assets.regions import un_regions
from ctdc_assets.standard import Standard, load_standard

ORIGINAL = "original"
SUPPRESSED = "suppressed"
_INTERVAL = re.compile(r"^(\d+)(?:--(\d+)|\+)$")


@dataclass(frozen=True)
class GeneralizedValue:
    """A value that only a generalized cell can hold, for the codebook."""

    column: str
    code: str
    level: str
    label: str
    covers: tuple[str, ...]  # the original values it stands for


@dataclass(frozen=True)
class Hierarchy:
    """One quasi-identifier's levels as an integer table: level x leaf -> output."""

    qi: str
    columns: tuple[str, ...]
    leaves: tuple[str, ...]
    level_names: tuple[str, ...]
    outputs: tuple[tuple[str, ...], ...]  # distinct output tuples, one per label code
    table: np.ndarray  # shape (levels, leaves): label code of each leaf at each level
    weight: float
    generalized: tuple[GeneralizedValue, ...]

    @property
    def height(self) -> int:
        return len(self.level_names) - 1

    def values(self, column: str) -> set[str]:
        """Every value the published column may hold (original and generalized)."""
        position = self.columns.index(column)
        return {output[position] for output in self.outputs}

    def original_values(self, column: str) -> set[str]:
        """Values of the column that keep the original granularity of the QI."""
        position = self.columns.index(column)
        return {self.outputs[code][position] for code in self.table[0]}

    def changed(self) -> np.ndarray:
        """Boolean (levels, leaves): the leaf's output differs from its original."""
        return self.table != self.table[0]


def build_hierarchies(
    policy: ReleasePolicy, standard: Standard | None = None
) -> dict[str, Hierarchy]:
    """Every quasi-identifier's hierarchy, in policy order."""
    standard = standard or load_standard()
    return {name: build_hierarchy(name, policy, standard) for name in policy.qi_names}


def build_hierarchy(name: str, policy: ReleasePolicy, standard: Standard) -> Hierarchy:
    var = standard.variable(name)
    qi = policy.quasi_identifiers[name]
    keep = {standard.missing_code}
    if var.type == "country":
        keep.add(standard.unknown_country)
    leaves = _sorted_leaves(standard.allowed_values(name), var.type)
    columns = (name, *policy.region_columns(name))
    regions = un_regions() if var.type == "country" else {}
    star = policy.suppressed_value
    rows = [[_original(name, leaf, columns, keep, qi.levels, regions) for leaf in leaves]]
    generalized: dict[tuple[str, ...], GeneralizedValue] = {}
    for depth, level in enumerate(qi.levels, start=1):
        row = []
        for leaf, base in zip(leaves, rows[0], strict=True):
            if leaf in keep:
                row.append(base)
                continue
            code, label = _group(name, level, leaf, var.type)
            if len(columns) > 1:
                # Country levels blank the finer columns and keep the coarser ones.
                output = (star,) * depth + base[depth:]
                code, label = output[depth], f"UN M49 {level.m49}: {output[depth]}"
            else:
                output = (code,)
            row.append(output)
            if output != base:
                column = columns[depth] if len(columns) > 1 else name
                known = generalized.get(output)
                covers = (*known.covers, leaf) if known else (leaf,)
                generalized[output] = GeneralizedValue(column, code, level.name, label, covers)
        rows.append(row)
    rows.append([(star,) * len(columns)] * len(leaves))
    outputs, table = _table(rows)
    _check_nested(name, table)
    return Hierarchy(
        qi=name,
        columns=columns,
        leaves=tuple(leaves),
        level_names=(ORIGINAL, *(lv.name for lv in qi.levels), SUPPRESSED),
        outputs=outputs,
        table=table,
        weight=qi.weight,
        generalized=tuple(
            GeneralizedValue(g.column, g.code, g.level, g.label, tuple(sorted(g.covers)))
            for g in generalized.values()
        ),
    )


def _original(
    name: str,
    leaf: str,
    columns: tuple[str, ...],
    keep: set[str],
    levels: list[Level],
    regions: dict[str, tuple[str, str]],
) -> tuple[str, ...]:
    """A leaf's output at the original level: itself, and a country's M49 regions."""
    if len(columns) == 1:
        return (leaf,)
    if leaf in keep:
        return (leaf,) * len(columns)
    try:
        sub, region = regions[leaf]
    except KeyError:
        raise ValueError(f"{name}: no UN region for country code {leaf!r}") from None
    by_level = {"subregion": sub, "region": region}
    return (leaf, *(by_level[lv.m49] for lv in levels if lv.m49))


def _table(rows: list[list[tuple[str, ...]]]) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """Distinct outputs (in order of first use) and the label code of each level x leaf."""
    outputs: dict[tuple[str, ...], int] = {}
    table = np.empty((len(rows), len(rows[0])), dtype=np.int32)
    for lv, row in enumerate(rows):
        for j, output in enumerate(row):
            table[lv, j] = outputs.setdefault(output, len(outputs))
    return tuple(outputs), table


def _sorted_leaves(values: set[str], kind: str) -> list[str]:
    if kind == "year":
        return sorted(values, key=int)
    return sorted(values)


def _group(name: str, level: Level, leaf: str, kind: str) -> tuple[str, str]:
    """(code, label) of the group a leaf belongs to at one level."""
    if level.width is not None:
        start = level.origin + (int(leaf) - level.origin) // level.width * level.width
        end = start + level.width - 1
        return f"{start}--{end}", f"{start} to {end}"
    if level.cuts is not None:
        low, high = _interval(name, leaf)
        edges = [0, *sorted(level.cuts)]
        start = max(e for e in edges if e <= low)
        following = [e for e in edges if e > start]
        end = following[0] - 1 if following else None
        if end is not None and (high is None or high > end):
            raise ValueError(f"{name}.{level.name}: cut points split the band {leaf!r}")
        if end is None:
            return f"{start}+", f"{start} years or older"
        return f"{start}--{end}", f"{start} to {end} years"
    if level.groups is not None:
        for code, members in level.groups.items():
            if leaf in members:
                return code, "one of: " + ", ".join(members)
        return leaf, leaf
    if level.m49 is not None:
        return level.m49, level.m49
    raise AssertionError(level)


def _interval(name: str, band: str) -> tuple[int, int | None]:
    match = _INTERVAL.match(band)
    if not match:
        raise ValueError(f"{name}: age band {band!r} is not 'a--b' or 'a+'")
    return int(match[1]), int(match[2]) if match[2] else None


def _check_nested(name: str, table: np.ndarray) -> None:
    """Each level must group whole groups of the level below (a true hierarchy)."""
    for lv in range(1, table.shape[0]):
        parents: dict[int, int] = {}
        for child, parent in zip(table[lv - 1], table[lv], strict=True):
            if parents.setdefault(int(child), int(parent)) != parent:
                raise ValueError(f"{name}: level {lv} splits a group of level {lv - 1}")

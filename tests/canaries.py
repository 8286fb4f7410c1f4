"""Canaries that look like ordinary names, planted where a delivery's values can travel.

An adversarial review found plain names (no marker word, so no pattern can catch them)
leaving the warehouse through side channels: report samples, check metadata, raw
previews, file names. `plant` writes one distinct name into one row of every
non-identifier column of every sample delivery (mapped, list and unused columns), into
an unknown column (its header is a name too, its values others) and into the delivery's
file name; `leaks` searches bytes for them, case-insensitively and in the encodings a
writer might use.
"""

from __future__ import annotations

import itertools
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import polars as pl

from ctdc_assets.sample_data import COLUMNS, IDENTIFIER_COLUMNS, file_names

FIRST = ["Maribel", "Teodora", "Anselm", "Yusra", "Dorotea", "Kasimir", "Ilse", "Baptiste"]
LAST = ["Okonkwo", "Lindqvist", "Ferreira", "Haddad", "Nakashima", "Oyelaran", "Brambilla"]
#: List columns: the canary goes in as one more item, the way a real entry would.
LIST_SEPARATORS = {
    "case_agency": {"vic_MethodsOfControl": ";", "vic_TypeOfExploitation": ";"},
    "hotline": {"means_of_control": "|"},
}


@dataclass(frozen=True)
class Canary:
    """One planted name and where it was planted."""

    name: str
    contributor: str
    where: str  # column, "header", "file name"

    def needles(self) -> set[bytes]:
        """The name as a writer may have stored it, lower-cased (the haystack is too)."""
        text = self.name.lower()
        forms = {text, text.replace(" ", "_"), urllib.parse.quote(text), text.replace(" ", "+")}
        return {f.encode() for f in forms} | {f.encode("utf-16-le") for f in forms}


def _names() -> Iterator[str]:
    return (f"{first} {last}" for last, first in itertools.product(LAST, FIRST))


def plant(landing: Path) -> list[Canary]:
    """Plant canaries into the sample deliveries under `landing`, renaming each file."""
    names = _names()
    canaries: list[Canary] = []
    for contributor, file in file_names().items():
        path = landing / contributor / file
        identifiers = set(IDENTIFIER_COLUMNS[contributor])
        columns = [c for c in COLUMNS[contributor] if c not in identifiers]
        planted = {c: next(names) for c in columns}
        header, unknown_value = next(names), next(names)
        canaries += [Canary(n, contributor, c) for c, n in planted.items()]
        canaries += [
            Canary(header, contributor, "header"),
            Canary(unknown_value, contributor, "unknown column"),
        ]
        separators = LIST_SEPARATORS.get(contributor, {})
        if path.suffix == ".csv":
            _plant_csv(path, planted, separators, header, unknown_value)
        elif path.suffix == ".jsonl":
            _plant_jsonl(path, planted, header, unknown_value)
        else:
            _plant_xlsx(path, planted, separators, header, unknown_value)
        in_name = next(names)
        target = path.with_name(f"{path.stem}_{in_name.replace(' ', '_')}{path.suffix}")
        path.rename(target)
        canaries.append(Canary(in_name, contributor, "file name"))
    return canaries


def _cell(old: str | None, name: str, separator: str | None) -> str:
    return f"{old}{separator}{name}" if separator and old else name


def _plant_csv(path, planted, separators, header, unknown_value) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    for row, (column, name) in enumerate(planted.items(), start=1):
        old = frame[column][row]
        frame = frame.with_columns(
            frame[column].scatter(row, _cell(old, name, separators.get(column)))
        )
    values = [None] * frame.height
    values[0] = unknown_value
    frame.with_columns(pl.Series(header, values, dtype=pl.String)).write_csv(path)


def _plant_jsonl(path, planted, header, unknown_value) -> None:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row, (column, name) in enumerate(planted.items(), start=1):
        *parents, leaf = column.split(".")
        node = lines[row]
        for part in parents:
            node = node.setdefault(part, {})
        old = node.get(leaf)
        node[leaf] = [*(old or []), name] if isinstance(old, list) else name
    for i, record in enumerate(lines):
        record[header] = unknown_value if i == 0 else None
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")


def _plant_xlsx(path, planted, separators, header, unknown_value) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book["Cases"]
    heads = [c.value for c in sheet[1]]
    for row, (column, name) in enumerate(planted.items(), start=3):  # row 1 is the header
        cell = sheet.cell(row=row, column=heads.index(column) + 1)
        cell.value = _cell(cell.value, name, separators.get(column))
    extra = len(heads) + 1
    sheet.cell(row=1, column=extra).value = header
    sheet.cell(row=2, column=extra).value = unknown_value
    book.save(path)


def leaks(canaries: list[Canary], files: list[Path]) -> dict[Canary, list[Path]]:
    """Every canary found in `files`, with the files that hold it."""
    found: dict[Canary, list[Path]] = {}
    for path in files:
        data = path.read_bytes().lower()
        for canary in canaries:
            if any(needle in data for needle in canary.needles()):
                found.setdefault(canary, []).append(path)
    return found


def files_outside_warehouse(data_dir: Path, dagster_home: Path, warehouse: Path) -> list[Path]:
    """What the pipeline wrote outside the encrypted warehouse and the raw deliveries."""
    landing = data_dir / "landing"
    encrypted = {warehouse, warehouse.with_name(warehouse.name + ".wal")}
    found = {
        p
        for root in (data_dir, dagster_home)
        for p in root.rglob("*")
        if p.is_file() and landing not in p.parents and p not in encrypted
    }
    return sorted(found)

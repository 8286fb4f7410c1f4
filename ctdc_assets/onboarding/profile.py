"""What a new contributor's delivery looks like: format, encoding, delimiter, columns.

The delivery is read by the pipeline's own reader (`read_delivery`, every column as
text) with read options detected here, so what the engineer sees is what the pipeline
will read. Encoding: UTF-8 if the bytes decode, else cp1252 (a superset of Latin-1 for
text, the usual export of spreadsheet programs). Delimiter: `csv.Sniffer` from the
standard library on the header and first lines.
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from ctdc_assets.crosswalk import Crosswalk, read_delivery, readers
from ctdc_assets.crosswalk.model import normalize

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
FORMATS |= {".ndjson": "jsonl", ".parquet": "parquet"}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d")
LOW_CARDINALITY = 40  # distinct values at most for a value-map skeleton
#: Names that say "this identifies a person" (compared normalised, as whole words).
IDENTIFYING_NAMES = re.compile(
    r"\b(name|nom|nombre|first|last|surname|given|family|phone|tel|mobile|email|e mail|mail|"
    r"address|adresse|street|dob|birth|birthdate|naissance|id|ref|reference|case|number|no|"
    r"narrative|notes?|comments?|description|story|remarks?|passport)\b"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")


def plain(name: str) -> str:
    """A column name to match words in: lower case, no accents, `_` and `.` as spaces."""
    text = unicodedata.normalize("NFKD", normalize(name))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[_.]+", " ", text)


@dataclass
class ColumnProfile:
    """One delivered column, as the draft crosswalk needs it."""

    name: str
    rows: int
    filled: int
    distinct: int
    kind: str  # date, number, yes_no, category, text
    date_format: str | None = None
    values: dict[str, int] = field(default_factory=dict)  # low-cardinality: value -> rows
    identifying_name: bool = False
    identifying_content: bool = False

    @property
    def identifier(self) -> bool:
        return self.identifying_name or self.identifying_content


@dataclass
class DeliveryProfile:
    path: Path
    read: dict[str, str]
    rows: int
    columns: list[ColumnProfile]


def read_options(path: Path) -> dict[str, str]:
    """`read:` of a crosswalk for this file: format, and for CSV encoding and delimiter."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"{path}: cannot tell the format from the extension (one of {known})")
    if fmt != "csv":
        return {"format": fmt}
    data = path.read_bytes()[: 1 << 16]
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError as error:
        # not just a character cut off at the end of the sample
        encoding = "cp1252" if error.start < len(data) - 4 else "utf-8"
    text = data.decode(encoding, errors="replace")
    lines = "\n".join(text.splitlines()[:20])
    try:
        delimiter = csv.Sniffer().sniff(lines, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return {"format": "csv", "encoding": encoding, "delimiter": delimiter}


def profile_delivery(path: Path) -> DeliveryProfile:
    read = read_options(path)
    crosswalk = Crosswalk.model_validate({"name": "new", "read": read, "case_id": None})
    reader_log = logging.getLogger(readers.__name__)
    level = reader_log.level
    reader_log.setLevel(logging.ERROR)  # every column is "not in the crosswalk" yet
    try:
        frame = read_delivery(crosswalk, path)
    finally:
        reader_log.setLevel(level)
    frame = frame.drop([c for c in ("source_row", "source_sheet") if c in frame.columns])
    return DeliveryProfile(path, read, frame.height, [_profile(frame[c]) for c in frame.columns])


def _profile(column: pl.Series) -> ColumnProfile:
    filled = column.drop_nulls()
    counts = dict(filled.value_counts().iter_rows())
    profile = ColumnProfile(
        name=column.name,
        rows=column.len(),
        filled=filled.len(),
        distinct=len(counts),
        kind="text",
        identifying_name=bool(IDENTIFYING_NAMES.search(plain(column.name))),
    )
    sample = filled.head(500).to_list()
    if sample and (fmt := _date_format(sample)):
        profile.kind, profile.date_format = "date", fmt
    elif sample and all(re.fullmatch(r"-?\d+([.,]\d+)?", v.strip()) for v in sample):
        profile.kind = "number"
    elif counts and {normalize(v) for v in counts} <= YES_NO:
        profile.kind = "yes_no"
    elif 0 < len(counts) <= LOW_CARDINALITY and len(counts) < max(filled.len() / 2, 3):
        profile.kind = "category"
    if profile.kind in ("category", "yes_no"):
        profile.values = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    profile.identifying_content = profile.kind == "text" and (
        any(EMAIL.search(v) or PHONE.fullmatch(v.strip()) for v in sample)
        or (filled.len() >= 10 and len(counts) > 0.9 * filled.len())
    )
    return profile


YES_NO = {"yes", "no", "y", "n", "true", "false", "1", "0", "oui", "non", "si", "ja", "nein"}


def _date_format(sample: list[str]) -> str | None:
    for fmt in DATE_FORMATS:
        try:
            for value in sample:
                datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return fmt
    return None

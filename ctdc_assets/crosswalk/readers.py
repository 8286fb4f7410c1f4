"""Read a delivery exactly as delivered: every column as text, plus its row number.

No type inference anywhere: `NA` (Namibia) and `-99` stay text. Empty cells become
null in every format. JSON objects are flattened to dotted column names
(`person.name.given`) and JSON arrays are joined with `;` into one text value
(`["forced labour", "debt bondage"]` -> `forced labour;debt bondage`); a JSON `true`
becomes the text `true`. `source_row` is the row number a person would see: in CSV and
xlsx the header is row 1, so the first record is row 2 (a spreadsheet program's row
number; for a CSV without line breaks inside quoted values this is also the line
number); in JSON Lines it is the line number. xlsx deliveries also get `source_sheet`.

Bad input raises `DeliveryError`, naming the file, the row and the column where known,
and never quoting the content of a row (it may hold personal data).

One module per format: `readers_csv`, `readers_xlsx`, `readers_jsonl` (JSON Lines and
Parquet); the checks they share are in `readers_checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.readers_checks import DeliveryError, check_required
from ctdc_assets.crosswalk.readers_csv import iter_csv
from ctdc_assets.crosswalk.readers_jsonl import iter_jsonl, iter_parquet
from ctdc_assets.crosswalk.readers_xlsx import iter_xlsx
from ctdc_assets.redaction import count_of

#: Importers of this module also take these from here.
__all__ = [
    "BATCH_ROWS",
    "DELIVERY_COLUMNS",
    "DeliveryError",
    "iter_delivery",
    "read_delivery",
    "unexpected_columns",
]

#: The logger of every format's reader (`ctdc contributor profile` quiets it by name).
log = logging.getLogger(__name__)

#: Rows per batch when a delivery is read in batches (`iter_delivery`).
BATCH_ROWS = 500_000


def read_delivery(crosswalk: Crosswalk, path: Path) -> pl.DataFrame:
    """The delivery as text columns + `source_row` (Int64), checked against the crosswalk."""
    batches = list(iter_delivery(crosswalk, path))
    return batches[0] if len(batches) == 1 else pl.concat(batches, how="vertical")


def iter_delivery(
    crosswalk: Crosswalk, path: Path, *, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """`read_delivery` in batches of about `batch_rows` rows, in delivery order.

    Every batch has the same columns (names, order, types), so they can be appended one
    by one to a table: a 10-million-row delivery never has to fit in memory. An xlsx
    workbook comes one sheet at a time (the sheet is parsed whole, so memory is bounded
    by the largest sheet). A bad file raises `DeliveryError`, possibly after some batches
    were yielded: a consumer keeps nothing until the iterator is exhausted.
    """
    path = Path(path)
    if not path.is_file():
        raise DeliveryError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DeliveryError(f"{path}: empty file (0 bytes), no records")
    reader = {
        "csv": iter_csv,
        "xlsx": iter_xlsx,
        "jsonl": iter_jsonl,
        "parquet": iter_parquet,
    }[crosswalk.read.format]
    rows = 0
    for frame in reader(crosswalk, path, batch_rows):
        if frame.height and not rows:
            _check_columns(crosswalk, path, frame)
        _check_no_nul(path, frame)
        rows += frame.height
        if frame.height:
            yield frame
    if not rows:
        raise DeliveryError(f"{path}: no records (only a header or nothing to read)")


#: Columns the loader adds to every raw row (not the contributor's).
DELIVERY_COLUMNS = (
    "source_row",
    "source_sheet",
    "delivery_file",
    "delivery_date",
    "delivery_sha256",
    "loaded_at",
)


def unexpected_columns(crosswalk: Crosswalk, frame: pl.DataFrame) -> list[str]:
    """Columns the crosswalk does not know (kept in raw, reported, never harmonized)."""
    known = crosswalk.known_columns() | set(DELIVERY_COLUMNS)
    return [c for c in frame.columns if c not in known]


def _check_columns(crosswalk: Crosswalk, path: Path, frame: pl.DataFrame) -> None:
    check_required(crosswalk, path, frame.columns)
    extra = unexpected_columns(crosswalk, frame)
    if extra:
        # Counted, not named: logs end up in the instance's compute logs, and a header
        # may be anything (`ctdc findings` names them).
        log.warning(
            "%s delivery: %s not in the crosswalk (kept in raw; names: ctdc findings %s)",
            crosswalk.name,
            count_of(extra),
            crosswalk.name,
        )


def _check_no_nul(path: Path, frame: pl.DataFrame) -> None:
    """A NUL byte in a value (anywhere: the first 64 KiB are sniffed before reading)."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    if not text or not frame.height:
        return
    has_nul = frame.select(
        [pl.col(c).str.contains("\x00", literal=True).any().alias(c) for c in text]
    ).row(0)
    bad = [c for c, found in zip(text, has_nul, strict=True) if found]
    if not bad:
        return
    column = bad[0]
    first = frame.filter(pl.col(column).str.contains("\x00", literal=True)).row(0, named=True)
    sheet = f"sheet {first['source_sheet']!r}, " if "source_sheet" in first else ""
    unit = "line" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "row"
    raise DeliveryError(
        f"{path}: {sheet}{unit} {first.get('source_row')}, column {column}: NUL byte in the "
        "value (binary data, or a damaged file)"
    )

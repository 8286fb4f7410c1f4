"""xlsx deliveries: one frame per sheet (a sheet name or a glob such as `Cases*`)."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.readers_checks import DeliveryError

#: The readers' logger, by name (`ctdc contributor profile` quiets it).
log = logging.getLogger("ctdc_assets.crosswalk.readers")


def iter_xlsx(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """One frame per sheet (calamine parses a sheet whole; `batch_rows` does not apply)."""
    import fastexcel

    with path.open("rb") as handle:
        head = handle.read(8)
    if not head.startswith(b"PK\x03\x04"):
        raise DeliveryError(f"{path}: byte 0: not an xlsx workbook (no zip signature)")
    try:
        reader = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types
        raise DeliveryError(f"{path}: cannot open workbook: {type(exc).__name__}") from None
    sheets = reader.sheet_names
    pattern = crosswalk.read.sheet
    chosen = [s for s in sheets if fnmatch.fnmatchcase(s, pattern)] if pattern else sheets[:1]
    if not chosen:
        raise DeliveryError(
            f"{path}: no sheet matches {pattern!r}; sheets present: {', '.join(sheets)}"
        )
    columns: list[str] | None = None
    for name in _natural_sorted(chosen):
        try:
            # One expression: the parsed sheet (several times the frame's size) is
            # freed before the frame is used.
            frame = reader.load_sheet_by_name(name, dtypes="string").to_polars()
        except Exception as exc:
            raise DeliveryError(
                f"{path}: sheet {name!r}: cannot read: {type(exc).__name__}"
            ) from None
        unnamed = [c for c in frame.columns if c.startswith("__UNNAMED__")]
        if frame.height == 0 and frame.width == len(unnamed):  # no cell at all
            log.warning("%s: sheet %r is empty (no header, no rows): skipped", path, name)
            continue
        if unnamed:
            index = frame.columns.index(unnamed[0]) + 1
            raise DeliveryError(
                f"{path}: sheet {name!r}, row 1 (header): column {index} has no name"
            )
        frame = frame.cast(pl.String).with_columns(
            pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias("source_row"),
            pl.lit(name).alias("source_sheet"),
        )
        if columns is not None and set(frame.columns) != set(columns):
            differ = sorted(set(frame.columns) ^ set(columns))
            raise DeliveryError(
                f"{path}: sheet {name!r}, row 1 (header): columns differ from the first "
                f"sheet's: {', '.join(differ)}"
            )
        columns = columns or frame.columns
        frame = frame.select(columns)
        payload = [c for c in columns if c not in ("source_row", "source_sheet")]
        # Rows left entirely blank inside a sheet are not records. Filter (a copy of the
        # sheet) only when there are some: at a million rows the copy is a gigabyte.
        blank = frame.select(pl.all_horizontal(pl.col(payload).is_null())).to_series()
        yield frame.filter(~blank) if blank.any() else frame
        del frame, blank
    if columns is None:
        raise DeliveryError(f"{path}: sheet(s) {', '.join(chosen)}: empty, no records")


def _natural_sorted(names: list[str]) -> list[str]:
    """`Cases`, `Cases 2`, ..., `Cases 10` in that order."""
    import re

    def key(name: str) -> list[object]:
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]

    return sorted(names, key=key)

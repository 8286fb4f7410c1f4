"""Write the three sample deliveries, chunk by chunk, each atomically."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from ctdc_assets.sample_data import _base as b
from ctdc_assets.sample_data import case_agency, hotline, ngo_network
from ctdc_assets.sample_data.xlsx import StreamingXlsxWriter

CONTRIBUTORS: tuple[str, ...] = ("case_agency", "hotline", "ngo_network")
SHARES: dict[str, float] = {"case_agency": 0.60, "hotline": 0.26, "ngo_network": 0.14}
DELIVERY_DATE = dt.date(2025, 3, 31)
EARLIEST_DELIVERY = dt.date(2025, 3, 1)  # the data's last modification date is 2025-02-28

# Column names as a reader sees them: JSON leaves as dotted paths.
COLUMNS: dict[str, list[str]] = {
    "case_agency": case_agency.COLUMNS,
    "hotline": hotline.COLUMNS,
    "ngo_network": ngo_network.FIELDS,
}
IDENTIFIER_COLUMNS: dict[str, list[str]] = {
    "case_agency": case_agency.IDENTIFIERS,
    "hotline": hotline.IDENTIFIERS,
    "ngo_network": ngo_network.IDENTIFIERS,
}


def file_names(delivery_date: dt.date = DELIVERY_DATE) -> dict[str, str]:
    """File name of each contributor's delivery (the name embeds the delivery date)."""
    return {
        "case_agency": f"case_agency_{delivery_date:%Y-%m-%d}.xlsx",
        "hotline": f"hotline_export_{delivery_date:%Y%m%d}.csv",
        "ngo_network": f"ngo_network_cases_{delivery_date:%Y-%m}.jsonl",
    }


def split_records(records: int) -> dict[str, int]:
    """Rows per contributor (re-sent duplicates included); they add up to `records`."""
    counts = {name: round(records * SHARES[name]) for name in CONTRIBUTORS[:2]}
    counts["ngo_network"] = records - sum(counts.values())
    return counts


def write_sample(
    out_dir: Path,
    records: int = 92_000,
    seed: int = 7,
    *,
    delivery_date: dt.date = DELIVERY_DATE,
    contributors: tuple[str, ...] = CONTRIBUTORS,
) -> dict[str, Path]:
    """Write `out_dir/<contributor>/<delivery file>` for the three contributors.

    The same (records, seed) always gives the same files: byte-identical CSV, JSON
    Lines and xlsx. `delivery_date` only changes the file names (e.g. to drop a newer
    delivery next to an older one); the newest date in the data is 2025-02-28.
    `contributors` writes only those deliveries (each with its share of `records`), so
    one contributor's new delivery costs only its own rows.
    """
    if records < 0:
        raise ValueError(f"records must be >= 0, not {records}")
    if delivery_date < EARLIEST_DELIVERY:
        raise ValueError(f"delivery_date must be on or after {EARLIEST_DELIVERY}: the data ends")
    unknown = sorted(set(contributors) - set(CONTRIBUTORS))
    if unknown:
        raise ValueError(f"unknown contributor(s) {', '.join(unknown)}; known: {CONTRIBUTORS}")
    out_dir = Path(out_dir)
    counts = split_records(records)
    names = file_names(delivery_date)
    written: dict[str, Path] = {}
    writers: dict[str, Callable[[Path, int, int], None]] = {
        "case_agency": _write_case_agency,
        "hotline": _write_hotline,
        "ngo_network": _write_ngo_network,
    }
    for contributor in (c for c in CONTRIBUTORS if c in contributors):
        path = out_dir / contributor / names[contributor]
        path.parent.mkdir(parents=True, exist_ok=True)
        with _atomic(path) as partial:
            writers[contributor](partial, counts[contributor], seed)
        written[contributor] = path
    return written


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to a hidden partial file and rename it, so a sensor never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _chunks(rows: int) -> Iterator[tuple[int, int]]:
    """(chunk index, chunk size) covering `rows`."""
    for index, start in enumerate(range(0, rows, b.CHUNK_ROWS)):
        yield index, min(b.CHUNK_ROWS, rows - start)


def _write_case_agency(path: Path, rows: int, seed: int) -> None:
    counters: dict[int, int] = {}
    with StreamingXlsxWriter(
        path,
        case_agency.COLUMNS,
        rows,
        sheet=case_agency.SHEET,
        text_sheets={"About": case_agency.about_lines(rows, seed)},
    ) as workbook:
        for chunk, size in _chunks(rows):
            workbook.write(case_agency.generate(seed, chunk, size, counters))


def _write_hotline(path: Path, rows: int, seed: int) -> None:
    counters: dict[int, int] = {}
    with path.open("wb") as fh:
        if rows == 0:
            pl.DataFrame(schema=dict.fromkeys(hotline.COLUMNS, pl.String)).write_csv(fh)
        for chunk, size in _chunks(rows):
            frame = hotline.generate(seed, chunk, size, counters)
            frame.write_csv(fh, include_header=chunk == 0)


def _write_ngo_network(path: Path, rows: int, seed: int) -> None:
    number = 1
    with path.open("wb") as fh:
        for chunk, size in _chunks(rows):
            frame = ngo_network.generate(seed, chunk, size, number)
            number += size
            ngo_network.nest(frame).write_ndjson(fh)

"""What every format's reader checks, and the error it raises: `DeliveryError`."""

from __future__ import annotations

from pathlib import Path

from ctdc_assets.crosswalk.model import Crosswalk

_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an xlsx workbook?)",
    b"PAR1": "a Parquet file",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old Office (xls/doc) file",
    b"\x1f\x8b": "a gzip archive",
}


class DeliveryError(ValueError):
    """A delivery file cannot be read as the crosswalk declares; says where and why."""


def check_required(crosswalk: Crosswalk, path: Path, columns: list[str]) -> None:
    missing = [c for c in crosswalk.used_columns() if c not in columns]
    if missing:
        present = [c for c in columns if c not in ("source_row", "source_sheet")]
        where = "row 1 (header)" if crosswalk.read.format in ("csv", "xlsx") else "every record"
        hint = ""
        if crosswalk.read.format == "csv" and len(present) == 1:
            found = [d for d in (",", ";", "\t", "|") if d in present[0]]
            hint = (
                f"; the header was read as one column: wrong delimiter? the crosswalk says "
                f"{crosswalk.read.delimiter!r}"
                + (f", the header contains {found[0]!r}" if found else "")
            )
        raise DeliveryError(
            f"{path}: {where}: required column(s) missing: {', '.join(missing)} "
            f"({len(present)} column(s) found){hint}"
        )


def sniff_binary(path: Path, head: bytes, expected: str) -> None:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise DeliveryError(f"{path}: byte 0: this is {what}, not a {expected} file")
    if b"\x00" in head:
        offset = head.index(b"\x00")
        line = head.count(b"\n", 0, offset) + 1
        raise DeliveryError(
            f"{path}: line {line}, byte offset {offset}: NUL byte, binary data rather than "
            f"{expected} text"
        )


def check_encoding(path: Path, data: bytes, encoding: str) -> None:
    """Locate the first undecodable byte (only called once a reader has failed)."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DeliveryError(
            f"{path}: line {line}, byte offset {exc.start}: cannot decode as {encoding} "
            f"({exc.reason}); re-export the file as {encoding} or set read.encoding"
        ) from None
    except LookupError:
        raise DeliveryError(f"{path}: unknown encoding {encoding!r} in read.encoding") from None

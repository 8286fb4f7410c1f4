"""CSV deliveries: read in blocks by pyarrow's streaming reader, every column as text.

The error paths re-read the file with the `csv` module to locate what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.readers_checks import (
    DeliveryError,
    check_encoding,
    check_required,
    sniff_binary,
)

#: Smallest CSV block parsed at a time: longer than any record (pyarrow cannot parse a
#: record that spans blocks).
CSV_MIN_BLOCK = 1 << 22


def iter_csv(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    opts = crosswalk.read
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    sniff_binary(path, head, "CSV")
    encoding = opts.encoding.lower().replace("_", "-")
    utf8 = encoding in ("utf-8", "utf8", "utf-8-sig")
    if utf8 and head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    if not head.strip():
        raise DeliveryError(f"{path}: empty file (only blank lines), no records")

    header = _csv_header(path, opts.delimiter, opts.quote, encoding)
    # A header without the columns the crosswalk needs (e.g. a wrong delimiter) says more
    # than the ragged rows such a file also has.
    check_required(crosswalk, path, header)
    bad_rows: list[tuple[int | None, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.actual_columns))
        return "error"

    # The streaming reader parses a block of bytes at a time (a record longer than a
    # block is an error, hence the floor); blocks are merged up to `batch_rows` rows.
    per_line = len(head) / max(head.count(b"\n"), 1)
    block_size = max(CSV_MIN_BLOCK, min(1 << 26, int(per_line * batch_rows)))
    first_row = 2
    pending: list[pa.RecordBatch] = []
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if utf8 else encoding,
                column_names=header,
                skip_rows=1,
                block_size=block_size,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter,
                quote_char=opts.quote,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= batch_rows:
                frame = _csv_frame(pending, header, first_row)
                pending, first_row = [], first_row + frame.height
                yield frame
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as exc:
        if bad_rows:
            _locate_ragged(path, header, opts.delimiter, opts.quote, encoding)
            raise DeliveryError(
                f"{path}: a row has {bad_rows[0][1]} field(s) where the header has "
                f"{len(header)}; a ragged or truncated line, or a wrong delimiter/quote"
            ) from None
        _locate_undecodable(path, header, opts.delimiter, opts.quote, encoding)
        check_encoding(path, path.read_bytes(), "utf-8" if utf8 else encoding)
        message = str(exc).split(":", 1)[0]  # never echo row content
        raise DeliveryError(f"{path}: cannot parse as CSV: {message}") from None
    _check_quotes_closed(path, header, opts.delimiter, opts.quote, encoding)
    yield _csv_frame(pending, header, first_row)


def _csv_frame(batches: list[pa.RecordBatch], header: list[str], first_row: int) -> pl.DataFrame:
    """Record batches as one frame of text columns, rows numbered from `first_row`."""
    table = pa.Table.from_batches(batches, schema=pa.schema([(n, pa.string()) for n in header]))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias("source_row")
    )


def _check_quotes_closed(
    path: Path, header: list[str], delimiter: str, quote: str, encoding: str
) -> None:
    """Reject a file that ends inside a quoted value (cut off in transfer).

    The CSV parser accepts such a file, with the last record's last value cut short,
    when the cut falls in the last column. Quotes come in pairs in a well-formed file
    (`""` inside a quoted value), so only an odd count needs the slow look.
    """
    import csv

    mark = quote.encode(encoding.removesuffix("-sig"))
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            count += chunk.count(mark)
    if count % 2 == 0:
        return
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=quote, strict=True)
        records, last_line = 0, 0
        try:
            for _ in reader:
                records, last_line = records + 1, reader.line_num
        except csv.Error as error:
            if "unexpected end of data" not in str(error):
                return  # malformed otherwise, in a way the parser accepted: leave it
        else:
            return
        handle.seek(0)
        rest = "".join(line for number, line in enumerate(handle, 1) if number > last_line)
    fields = next(csv.reader([rest], delimiter=delimiter, quotechar=quote), [""])
    index = len(fields) - 1
    column = header[index] if index < len(header) else f"field {index + 1}"
    raise DeliveryError(
        f"{path}: row {records + 1} (line {last_line + 1}), column {column!r}: the file ends "
        "inside a quoted value (no closing quote): a truncated file or a stray quote"
    )


def _locate_ragged(
    path: Path, header: list[str], delimiter: str, quote: str, encoding: str
) -> None:
    """Error path only: find the first record whose field count differs from the header."""
    import csv

    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=quote, strict=False)
        next(reader, None)
        for record_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) == len(header):
                continue
            found = len(row)
            if found < len(header):
                detail = f"first missing column {header[found]!r}"
            else:
                detail = f"a value beyond the last column {header[-1]!r}"
            raise DeliveryError(
                f"{path}: row {record_number} (line {reader.line_num}): {found} field(s) "
                f"where the header has {len(header)} ({detail}); a ragged or truncated "
                "line, or a wrong delimiter/quote"
            )


def _locate_undecodable(
    path: Path, header: list[str], delimiter: str, quote: str, encoding: str
) -> None:
    """Error path only: the row, line and column of the first byte `encoding` cannot decode."""
    import csv

    data = path.read_bytes()
    try:
        data.decode(encoding)
        return
    except (UnicodeDecodeError, LookupError) as exc:
        if not isinstance(exc, UnicodeDecodeError):
            return
        start, reason = exc.start, exc.reason
    line = data.count(b"\n", 0, start) + 1
    # Undecodable bytes become lone surrogates, so the csv module still splits the fields.
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=quote, strict=False)
        next(reader, None)
        for record_number, row in enumerate(reader, start=2):
            for index, value in enumerate(row):
                if any("\udc80" <= char <= "\udcff" for char in value):
                    column = header[index] if index < len(header) else f"field {index + 1}"
                    raise DeliveryError(
                        f"{path}: row {record_number} (line {line}, byte offset {start}), "
                        f"column {column!r}: cannot decode as {encoding} ({reason}); "
                        f"re-export the file as {encoding} or set read.encoding"
                    )


def _csv_header(path: Path, delimiter: str, quote: str, encoding: str) -> list[str]:
    """The header row as field names (duplicates and blanks are errors)."""
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DeliveryError(
            f"{path}: line 1 (header), byte offset {exc.start}: cannot decode as {encoding}"
        ) from None
    except LookupError:
        raise DeliveryError(f"{path}: unknown encoding {encoding!r} in read.encoding") from None
    import csv

    row = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter, quotechar=quote), [])
    names = [n.strip() for n in row]
    if not any(names):
        raise DeliveryError(f"{path}: line 1 (header): no column names")
    for i, name in enumerate(names, start=1):
        if not name:
            raise DeliveryError(f"{path}: line 1 (header): column {i} has no name")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DeliveryError(f"{path}: line 1 (header): duplicate column(s) {', '.join(duplicates)}")
    return names

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
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.redaction import count_of

log = logging.getLogger(__name__)

#: Rows per batch when a delivery is read in batches (`iter_delivery`).
BATCH_ROWS = 500_000
#: Smallest CSV block parsed at a time: longer than any record (pyarrow cannot parse a
#: record that spans blocks).
CSV_MIN_BLOCK = 1 << 22
#: JSON arrays are joined with this separator (document it in list rules' `separator`).
JSON_LIST_SEPARATOR = ";"
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an xlsx workbook?)",
    b"PAR1": "a Parquet file",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old Office (xls/doc) file",
    b"\x1f\x8b": "a gzip archive",
}


class DeliveryError(ValueError):
    """A delivery file cannot be read as the crosswalk declares; says where and why."""


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
        "csv": _iter_csv,
        "xlsx": _iter_xlsx,
        "jsonl": _iter_jsonl,
        "parquet": _iter_parquet,
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
    _check_required(crosswalk, path, frame.columns)
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


def _check_required(crosswalk: Crosswalk, path: Path, columns: list[str]) -> None:
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


def _sniff_binary(path: Path, head: bytes, expected: str) -> None:
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


def _check_encoding(path: Path, data: bytes, encoding: str) -> None:
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


# --------------------------------------------------------------------------- CSV


def _iter_csv(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    opts = crosswalk.read
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    _sniff_binary(path, head, "CSV")
    encoding = opts.encoding.lower().replace("_", "-")
    utf8 = encoding in ("utf-8", "utf8", "utf-8-sig")
    if utf8 and head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    if not head.strip():
        raise DeliveryError(f"{path}: empty file (only blank lines), no records")

    header = _csv_header(path, opts.delimiter, opts.quote, encoding)
    # A header without the columns the crosswalk needs (e.g. a wrong delimiter) says more
    # than the ragged rows such a file also has.
    _check_required(crosswalk, path, header)
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
        _check_encoding(path, path.read_bytes(), "utf-8" if utf8 else encoding)
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


# --------------------------------------------------------------------------- xlsx


def _iter_xlsx(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
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


# --------------------------------------------------------------------------- JSON Lines


def _iter_jsonl(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """UTF-8 files in blocks of lines, each parsed with the schema of the whole file (so
    every block has the same columns and types); other encodings whole."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    _sniff_binary(path, head, "JSON Lines")
    encoding = crosswalk.read.encoding
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        yield _read_jsonl(crosswalk, path)
        return
    try:
        # One pass over the file, record by record (not the file in memory).
        schema = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
    except Exception:
        schema = None
    if schema is None or not schema:
        yield _read_jsonl(crosswalk, path)  # raises the error, located
        return
    first_line = 1
    records = 0
    for block in _line_blocks(path, batch_rows):
        if first_line == 1 and block.startswith(b"\xef\xbb\xbf"):
            block = block[3:]
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            yield _read_jsonl(crosswalk, path)  # raises the error, located
            return
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        frame = _parse_lines(path, block, first_line, schema)
        records += frame.height
        first_line += lines if block.endswith(b"\n") else lines - 1
        yield frame
    if not records:
        raise DeliveryError(f"{path}: no records (only blank lines)")


def _line_blocks(path: Path, lines: int) -> Iterator[bytes]:
    """The file in blocks of whole lines, about `lines` lines each (the last may lack `\\n`)."""
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
        per_line = len(sample) / max(sample.count(b"\n"), 1)
        size = min(1 << 27, max(1 << 10, int(per_line * lines)))
        handle.seek(0)
        rest = b""
        while data := handle.read(size):
            block = rest + data
            cut = block.rfind(b"\n") + 1
            if cut:
                yield block[:cut]
            rest = block[cut:]
        if rest:
            yield rest


def _read_jsonl(crosswalk: Crosswalk, path: Path) -> pl.DataFrame:
    """The whole file at once: other encodings, and the error path (to locate errors)."""
    data = path.read_bytes()
    encoding = crosswalk.read.encoding
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        _check_encoding(path, data, encoding)
        raise
    except LookupError:
        raise DeliveryError(f"{path}: unknown encoding {encoding!r} in read.encoding") from None
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        data = text.encode("utf-8")
    del text
    frame = _parse_lines(path, data, 1, None)
    if frame.height == 0:
        raise DeliveryError(f"{path}: no records (only blank lines)")
    return frame


def _parse_lines(
    path: Path, data: bytes, first_line: int, schema: pl.Schema | None
) -> pl.DataFrame:
    """JSON lines (UTF-8, numbered from `first_line`) as flat text columns + `source_row`.

    Common case: no blank line, so record i is line i and the bytes are parsed at once
    (Polars skips blank lines, so as many records as lines means there were none);
    otherwise line by line, which keeps line numbers and locates an error.
    """
    _check_duplicate_keys(path, data, first_line)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        if schema is None:
            parsed = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        else:
            parsed = pl.read_ndjson(io.BytesIO(data), schema=schema)
    except Exception:
        parsed = None
    if parsed is not None and parsed.height == lines:
        numbers = pl.int_range(first_line, first_line + lines, dtype=pl.Int64)
        return _flatten(path, parsed).with_columns(numbers.alias("source_row"))
    return _read_jsonl_lines(path, data.decode("utf-8"), first_line, schema)


def _read_jsonl_lines(
    path: Path, text: str, first_line: int, schema: pl.Schema | None
) -> pl.DataFrame:
    """Lines numbered from `first_line`, blank ones skipped (may return no rows)."""
    lines = pl.Series("line", text.split("\n"), dtype=pl.String)
    del text
    numbered = (
        lines.to_frame()
        .with_row_index("source_row", offset=first_line)
        .filter(pl.col("line").str.strip_chars() != "")
    )
    if numbered.height == 0:
        empty = pl.DataFrame(schema=schema or {})
        return _flatten(path, empty).with_columns(pl.lit(None, pl.Int64).alias("source_row"))
    payload = "\n".join(numbered["line"].to_list()).encode("utf-8")
    try:
        if schema is None:
            parsed = pl.read_ndjson(io.BytesIO(payload), infer_schema_length=None)
        else:
            parsed = pl.read_ndjson(io.BytesIO(payload), schema=schema)
    except Exception:
        _locate_json_error(path, numbered)
        raise DeliveryError(f"{path}: cannot parse as JSON Lines") from None
    if parsed.height != numbered.height:
        _locate_json_error(path, numbered)
        raise DeliveryError(f"{path}: {numbered.height} lines but {parsed.height} records")
    flat = _flatten(path, parsed)
    return flat.with_columns(numbered["source_row"].cast(pl.Int64).alias("source_row"))


def _locate_json_error(path: Path, numbered: pl.DataFrame) -> None:
    """Find the first line that is not a JSON object (error path only)."""
    for number, line in numbered.iter_rows():
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DeliveryError(
                f"{path}: line {number}, column {exc.colno}: broken JSON ({exc.msg})"
            ) from None
        if not isinstance(value, dict):
            raise DeliveryError(
                f"{path}: line {number}: a JSON {type(value).__name__}, expected an object"
            )


def _flatten(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Nested structs -> dotted text columns; lists -> `;`-joined text."""
    columns: list[pl.Series] = []

    def walk(series: pl.Series, name: str) -> None:
        dtype = series.dtype
        if isinstance(dtype, pl.Struct):
            unnested = series.struct.unnest()
            for field in unnested.columns:
                walk(unnested[field], f"{name}.{field}")
        elif isinstance(dtype, pl.List | pl.Array):
            inner = series.list.eval(_element_text(dtype.inner))  # type: ignore[union-attr]
            joined = inner.list.join(JSON_LIST_SEPARATOR, ignore_nulls=True)
            columns.append(joined.replace("", None).alias(name))
        elif dtype == pl.Null:
            columns.append(pl.Series(name, [None] * len(series), dtype=pl.String))
        else:
            columns.append(_scalar_text(series).alias(name))

    for col in frame.columns:
        walk(frame[col], col)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DeliveryError(_collision(path, twice))
    return pl.DataFrame(columns)


def _collision(path: Path, name: str) -> str:
    """Where a dotted key (`case.id`) meets a nested one (`case: {id}`): the first lines."""
    if path.suffix.lower() == ".parquet":
        return f"{path}: column {name}: a nested field and a column flatten to the same name"
    dotted = nested = None
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                keys = list(_dotted_keys(json.loads(line)))
            except (json.JSONDecodeError, AttributeError):
                continue
            dotted = dotted or (number if (name, True) in keys else None)
            nested = nested or (number if (name, False) in keys else None)
            if dotted and nested:
                break
    return (
        f"{path}: line {dotted or '?'}, column {name}: the key {name!r} and the nested key "
        f"{' -> '.join(name.split('.'))} (line {nested or '?'}) flatten to the same column; "
        "rename one of them"
    )


def _dotted_keys(value: dict[str, object], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(flattened name, whether the key itself holds a dot at its own level) per leaf."""
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, dict) and inner:
            yield from _dotted_keys(inner, f"{name}.")
        else:
            yield name, "." in key


def _check_duplicate_keys(path: Path, data: bytes, first_line: int) -> None:
    """JSON allows a key twice in one object, and then which value counts is undefined."""

    def unique(pairs: list[tuple[str, object]]) -> None:
        if len({key for key, _ in pairs}) != len(pairs):
            keys = [key for key, _ in pairs]
            raise _DuplicateKey(next(k for k in keys if keys.count(k) > 1))

    for number, line in enumerate(data.split(b"\n"), start=first_line):
        if not line.strip():
            continue
        try:
            json.loads(line, object_pairs_hook=unique)
        except _DuplicateKey as duplicate:
            raise DeliveryError(
                f"{path}: line {number}, column {duplicate.args[0]}: the key appears twice "
                "in one object (which value counts is undefined); remove one"
            ) from None
        except json.JSONDecodeError:
            return  # the parser locates broken lines itself


class _DuplicateKey(Exception):
    pass


def _element_text(dtype: pl.DataType | None) -> pl.Expr:
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        return (
            pl.element().struct.json_encode()
            if isinstance(dtype, pl.Struct)
            else (pl.element().cast(pl.String))
        )
    if dtype == pl.Boolean:
        return pl.element().cast(pl.String).str.to_lowercase()
    return pl.element().cast(pl.String)


def _scalar_text(series: pl.Series) -> pl.Series:
    if series.dtype == pl.Float64 or series.dtype == pl.Float32:
        # 23.0 -> "23": JSON has no int/float distinction a person would see.
        as_int = series.cast(pl.Int64, strict=False)
        whole = series.is_finite() & (series == as_int.cast(series.dtype))
        return pl.select(
            pl.when(whole).then(as_int.cast(pl.String)).otherwise(series.cast(pl.String))
        ).to_series()
    return series.cast(pl.String)


# --------------------------------------------------------------------------- Parquet


def _iter_parquet(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Whole (Parquet deliveries are small; `batch_rows` does not apply)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head != b"PAR1":
        raise DeliveryError(f"{path}: byte 0: not a Parquet file (no PAR1 signature)")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise DeliveryError(f"{path}: cannot read Parquet: {type(exc).__name__}") from None
    flat = _flatten(path, frame)
    yield flat.with_columns(pl.int_range(1, flat.height + 1, dtype=pl.Int64).alias("source_row"))

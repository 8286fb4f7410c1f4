"""JSON Lines and Parquet deliveries: nested fields flattened to dotted text columns."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.readers_checks import DeliveryError, check_encoding, sniff_binary

#: JSON arrays are joined with this separator (document it in list rules' `separator`).
JSON_LIST_SEPARATOR = ";"


def iter_jsonl(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """UTF-8 files in blocks of lines, each parsed with the schema of the whole file (so
    every block has the same columns and types); other encodings whole."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    sniff_binary(path, head, "JSON Lines")
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
        check_encoding(path, data, encoding)
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
        parsed = _read_ndjson(data, schema)
    except Exception:
        parsed = None
    if parsed is not None and parsed.height == lines:
        numbers = pl.int_range(first_line, first_line + lines, dtype=pl.Int64)
        return flatten(path, parsed).with_columns(numbers.alias("source_row"))
    return _read_jsonl_lines(path, data.decode("utf-8"), first_line, schema)


def _read_ndjson(data: bytes, schema: pl.Schema | None) -> pl.DataFrame:
    """Parse JSON lines with `schema`, or with the schema inferred from every line."""
    if schema is None:
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    return pl.read_ndjson(io.BytesIO(data), schema=schema)


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
        return flatten(path, empty).with_columns(pl.lit(None, pl.Int64).alias("source_row"))
    payload = "\n".join(numbered["line"].to_list()).encode("utf-8")
    try:
        parsed = _read_ndjson(payload, schema)
    except Exception:
        _locate_json_error(path, numbered)
        raise DeliveryError(f"{path}: cannot parse as JSON Lines") from None
    if parsed.height != numbered.height:
        _locate_json_error(path, numbered)
        raise DeliveryError(f"{path}: {numbered.height} lines but {parsed.height} records")
    flat = flatten(path, parsed)
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


def flatten(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
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


def iter_parquet(crosswalk: Crosswalk, path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Whole (Parquet deliveries are small; `batch_rows` does not apply)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head != b"PAR1":
        raise DeliveryError(f"{path}: byte 0: not a Parquet file (no PAR1 signature)")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise DeliveryError(f"{path}: cannot read Parquet: {type(exc).__name__}") from None
    flat = flatten(path, frame)
    yield flat.with_columns(pl.int_range(1, flat.height + 1, dtype=pl.Int64).alias("source_row"))

"""A table prepared for GX in Polars: the distinct values GX judges, not the rows.

Why not hand a 92,000-row frame to GX as is: GX spends ~25 ms per expectation in its
own bookkeeping and re-filters the whole pandas frame per expectation, and at 10M rows
the pandas copy alone would not fit. So GX decides *which values* are unexpected and
Polars counts *how many rows* hold them (`interpret`):

- row-wise expectations (in set, regex, not null, pair equal, ...) depend only on the
  values in their own columns, so GX sees one row per distinct value (combination)
  of those columns; Polars keeps, per distinct value, its row count and first row
  numbers. Counts, percentages and `mostly` are computed from those, exactly.
- uniqueness sees each duplicated value twice (and nothing else);
- set-based aggregates (distinct values in set, min, max) see the distinct values;
- schema expectations (columns present, types) see the zero-row frame, row-count
  expectations a frame of the right length with no columns;
- anything else (mean, increasing, ...) gets the full columns it names.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from ctdc_assets.quality.derive import TABLE_WISE, VALUE_WISE, derived_expr, source_columns
from ctdc_assets.quality.suite_model import NULL_TYPES, ExpectationSpec

__all__ = ["CHUNK_ROWS", "INDEX", "SAMPLE_ROWS", "Domain", "PreparedTable", "domain_key"]

SAMPLE_ROWS = 5  # row numbers kept per failed expectation
CHUNK_ROWS = 500_000  # rows prepared at a time: bounds memory (~1.5 GB peak at 10M rows)
INDEX = "__row__"  # the wide frame's row number, GX's index for unexpected rows

DomainMode = Literal["values", "unique", "nullness"]


@dataclass
class Domain:
    """Distinct values of some columns, with row counts and first rows (from Polars).

    mode "values": one row per distinct value (combination); "unique": each duplicated
    value, twice; "nullness": one row for null, one for any value (not-null checks).
    """

    columns: tuple[str, ...]
    mode: DomainMode

    @property
    def unique(self) -> bool:
        return self.mode == "unique"

    groups: pl.DataFrame | None = None
    names: tuple[str, ...] = ()  # their column names in the wide GX frame
    nonmissing_rows: int | None = None  # unique domains: rows with a value


DomainKey = tuple[tuple[str, ...], DomainMode]


def domain_key(spec: ExpectationSpec) -> DomainKey:
    """The domain an expectation is judged on: its columns, and how their values are kept."""
    if spec.kind == "unique":
        return (spec.columns, "unique")
    if spec.type in NULL_TYPES:
        return (spec.columns, "nullness")
    return (spec.columns, "values")


class PreparedTable:
    """One table's rows, read for the expectations: derived columns, chunks, domains.

    Preparation reads the table in chunks of `CHUNK_ROWS` (only the columns the
    expectations need, derived columns added per chunk) and keeps, per domain, distinct
    values with row counts; so memory is bounded by the chunk, not the table.
    """

    def __init__(
        self,
        *,
        frame: pl.DataFrame | pl.LazyFrame,
        derived: Sequence[Mapping[str, Any]],
        parameters: Mapping[str, Any],
        personal: set[str],
        row_column: str | None,
        row_label: str = "rows",
        chunk_rows: int | None = None,
        shown_words: Collection[str] = frozenset(),
    ) -> None:
        self.shown_words = shown_words  # may be shown as they are (`redaction.redact`)
        self.row_label = row_label
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        schema = frame.collect_schema()
        self.base_columns = list(schema)
        self.personal = set(personal)
        self.unavailable: dict[str, str] = {}
        self.shown_as: dict[str, str] = {}  # derived column -> the column people know
        # derived column -> (its source columns, expression, how: "row" | "value" | "table")
        self.derived: dict[str, tuple[list[str], pl.Expr, str]] = {}
        for spec in derived:
            if "column" in spec.get("args", {}):
                self.shown_as[spec["name"]] = spec["args"]["column"]
            sources = source_columns(spec)
            lacking = [c for c in sources if c not in schema]
            if lacking:
                self.unavailable[spec["name"]] = f"derived from missing column {lacking[0]}"
                continue
            how = "row"
            if spec.get("function") in TABLE_WISE:
                how = "table"
            elif spec.get("function") in VALUE_WISE and len(sources) == 1:
                how = "value"
            self.derived[spec["name"]] = (sources, derived_expr(spec, parameters), how)
            if self.personal & set(sources):
                self.personal.add(spec["name"])
        self.positional = row_column is None or row_column not in schema
        if self.positional:  # rows are named by position, numbered chunk by chunk
            row_column = "__position__"
        self.row_column = row_column
        self.frame = frame
        self.columns = set(schema) | set(self.derived)
        self.row_count = 0
        self._table_maps: dict[str, pl.DataFrame] = {}

    def is_personal(self, spec: ExpectationSpec) -> bool:
        return bool(spec.meta.get("personal")) or bool(self.personal & set(spec.columns))

    def _prepare(self, frame: pl.DataFrame, names: Collection[str]) -> pl.DataFrame:
        """Add the derived columns `names` to a chunk.

        Row-wise ones are computed on the chunk, value-wise ones once per distinct value,
        table-wise ones (counts) once on the whole table, then joined.
        """
        per_value: dict[str, list[pl.Expr]] = {}
        row_wise = []
        for name in names:
            sources, expr, how = self.derived[name]
            if how == "value":
                per_value.setdefault(sources[0], []).append(expr)
            elif how == "table":
                if name not in self._table_maps:  # count_by, the only table-wise function
                    self._table_maps[name] = (
                        self.frame.lazy()
                        .group_by(sources[0])
                        .agg(pl.len().cast(pl.Int64).alias(name))
                        .collect()
                    )
                frame = frame.join(
                    self._table_maps[name],
                    on=sources[0],
                    how="left",
                    nulls_equal=True,
                    maintain_order="left",
                )
            else:
                row_wise.append(expr)
        for source, exprs in per_value.items():
            mapping = frame.select(source).unique().with_columns(exprs)
            frame = frame.join(
                mapping, on=source, how="left", nulls_equal=True, maintain_order="left"
            )
        return frame.with_columns(row_wise) if row_wise else frame

    def chunks(self, columns: Collection[str]) -> Iterator[pl.DataFrame]:
        """The table with `columns` (derived ones computed), one chunk at a time.

        Slices of a DataFrame are views; slices of a LazyFrame (e.g. a Parquet scan) read
        only their rows and columns, so a 10M-row table never has to fit in memory.
        """
        derived = [c for c in columns if c in self.derived]
        base = {c for c in columns if c not in self.derived} | {self.row_column}
        for name in derived:
            base.update(self.derived[name][0])
        names = [c for c in self.frame.collect_schema() if c in base]
        narrow = self.frame.select(names or self.base_columns[:1])
        offset = 0
        while True:
            chunk = narrow.slice(offset, self.chunk_rows)
            if isinstance(chunk, pl.LazyFrame):
                chunk = chunk.collect()
            if self.positional:
                chunk = chunk.with_row_index(self.row_column, offset=offset + 1)
            height = chunk.height
            if height or offset == 0:
                prepared = self._prepare(chunk, derived)
                del chunk  # keep one chunk alive at a time
                yield prepared
                del prepared
            if height < self.chunk_rows:
                return
            offset += self.chunk_rows

    def prepared(self, columns: Collection[str]) -> pl.DataFrame:
        """The whole table with `columns` (for the rare expectations that need every row)."""
        return pl.concat(list(self.chunks(columns)))

    def domains(self, specs: list[ExpectationSpec]) -> dict[DomainKey, Domain]:
        """Per domain: distinct values, row counts, first rows; chunk by chunk, then merged."""
        domains: dict[DomainKey, Domain] = {}
        for spec in specs:
            key = domain_key(spec)
            domains.setdefault(key, Domain(*key))
        needed = {c for d in domains.values() for c in d.columns}
        parts: dict[DomainKey, list[pl.DataFrame]] = {k: [] for k in domains}
        nonmissing: dict[DomainKey, int] = dict.fromkeys(domains, 0)
        key_hashes: dict[DomainKey, list[pl.DataFrame]] = {
            k: [] for k, d in domains.items() if d.unique
        }
        rows = pl.col(self.row_column)
        counts = [pl.len().alias("__n__"), rows.head(SAMPLE_ROWS).alias("__rows__")]
        self.row_count = 0
        schema = pl.Schema()
        for chunk in self.chunks(needed):
            self.row_count += chunk.height
            schema = chunk.schema
            for key, domain in domains.items():
                cols = list(domain.columns)
                if domain.mode == "nullness":
                    nulls = [pl.col(c).is_null().alias(f"__null{i}__") for i, c in enumerate(cols)]
                    part = (
                        chunk.group_by(nulls)
                        .agg(*[pl.col(c).first() for c in cols], *counts)
                        .drop([f"__null{i}__" for i in range(len(cols))])
                    )
                    parts[key].append(_compact(part))
                elif domain.unique:  # pass 1: how often each key occurs, by 64-bit hash
                    present = ~pl.all_horizontal([pl.col(c).is_null() for c in cols])
                    keyed = chunk.filter(present).select(_key_hash(cols))
                    nonmissing[key] += keyed.height
                    key_hashes[key].append(keyed.group_by("__h__").agg(pl.len().alias("__n__")))
                else:
                    parts[key].append(_compact(chunk.group_by(cols).agg(*counts)))
            del chunk  # before the next one is read
        for key, hashes in key_hashes.items():  # pass 2: rows of the duplicated keys only
            cols = list(domains[key].columns)
            repeated = (
                pl.concat(hashes)
                .group_by("__h__")
                .agg(pl.col("__n__").sum())
                .filter(pl.col("__n__") > 1)
                .get_column("__h__")
            )
            if repeated.len():
                for chunk in self.chunks(cols):
                    hit = chunk.filter(_key_hash(cols).is_in(repeated.implode()))
                    parts[key].append(_compact(hit.group_by(cols).agg(*counts)))
        for key, domain in domains.items():
            cols = list(domain.columns)
            types = pl.Schema({**schema, "__rows__": schema[self.row_column]})
            merged = _merge_groups(parts[key], cols, types)
            if domain.unique:
                merged = merged.filter(pl.col("__n__") > 1)
                domain.nonmissing_rows = nonmissing[key]
            domain.groups = merged
        return domains

    def wide_frame(
        self,
        specs: list[ExpectationSpec],
        domains: dict[DomainKey, Domain],
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """One frame holding every domain's distinct values side by side."""

        def height(d: Domain) -> int:
            assert d.groups is not None
            return 2 * d.groups.height if d.unique else d.groups.height

        size = max((height(d) for d in domains.values()), default=0)
        aggregated = {domain_key(s) for s in specs if s.kind == "distinct"}
        data: dict[str, pl.Series] = {INDEX: pl.int_range(size, eager=True).alias(INDEX)}
        for k, (key, domain) in enumerate(domains.items()):
            assert domain.groups is not None
            # Padding up to `size` is never read (the index says it is padding), but GX
            # evaluates it: missing values cost nothing where GX skips them, that is in
            # one-column map expectations (null checks have their own domain) and
            # uniqueness. Elsewhere the first value, repeated, keeps the verdict as is.
            skipped = domain.unique or (
                domain.mode == "values" and len(domain.columns) == 1 and key not in aggregated
            )
            names = []
            for j, column in enumerate(domain.columns):
                values = domain.groups.get_column(column)
                if domain.unique:  # each duplicated value twice, then nothing
                    values = values.gather([i // 2 for i in range(2 * values.len())])
                if skipped:
                    pad = pl.Series(column, [None] * (size - values.len()), dtype=values.dtype)
                else:
                    pad = values.gather([0] * (size - values.len())) if values.len() else None
                if pad is not None and pad.len():
                    values = pl.concat([values, pad])
                name = f"d{k}c{j}"
                data[name] = values.alias(name)
                names.append(name)
            domain.names = tuple(names)
        configs = []
        for spec in specs:
            rename = dict(zip(spec.columns, domains[domain_key(spec)].names, strict=True))
            configs.append(config(spec, rename, drop_mostly=True))
        return pl.DataFrame(list(data.values())), configs

    def plain_frame(
        self, kind: str, specs: list[ExpectationSpec]
    ) -> tuple[pl.DataFrame | int, list[str]]:
        """The frame GX sees for `kind`: no rows (schema), a row count (rows), or all rows."""
        if kind == "schema":
            return self.frame.lazy().select(self.base_columns).head(0).collect(), []
        if kind == "rows":
            return self.row_count, []
        cols = sorted({c for s in specs for c in s.columns} | {self.row_column})
        return self.prepared(cols), [self.row_column]


def config(
    spec: ExpectationSpec, rename: Mapping[str, str], *, drop_mostly: bool = False
) -> dict[str, Any]:
    """The GX configuration of `spec`, its columns renamed as in the frame GX sees."""
    kwargs = dict(spec.kwargs)
    for key in ("column", "column_A", "column_B"):
        if key in kwargs:
            kwargs[key] = rename.get(kwargs[key], kwargs[key])
    if "column_list" in kwargs:
        kwargs["column_list"] = [rename.get(c, c) for c in kwargs["column_list"]]
    if drop_mostly:
        kwargs.pop("mostly", None)  # applied to row counts, not to distinct values
    return {
        "type": spec.type,
        "kwargs": kwargs,
        "meta": {"_i": spec.index},
        "severity": spec.severity,
    }


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy with its own buffers: Polars strings are views, and a 5-row group table cut
    from a chunk would otherwise keep the whole chunk's text alive (memory grew by the
    chunk, every chunk, at 10M rows)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)


def _key_hash(columns: list[str]) -> pl.Expr:
    """A 64-bit hash of a key (one or more columns): uniqueness without holding the keys."""
    if len(columns) == 1:
        return pl.col(columns[0]).hash().alias("__h__")
    return pl.struct(columns).hash().alias("__h__")


def _merge_groups(parts: list[pl.DataFrame], columns: list[str], schema: pl.Schema) -> pl.DataFrame:
    """Combine per-chunk group tables: sum the counts, keep the first row numbers."""
    if not parts:
        return pl.DataFrame(
            schema={c: schema[c] for c in columns}
            | {"__n__": pl.UInt32, "__rows__": pl.List(schema["__rows__"])}
        )
    if len(parts) == 1:
        return parts[0]
    return (
        pl.concat(parts, how="vertical_relaxed")
        .group_by(columns, maintain_order=True)
        .agg(
            pl.col("__n__").sum(),
            pl.col("__rows__").flatten().sort().head(SAMPLE_ROWS),
        )
    )

"""What every rule of a harmonize run shares: the chunk's context and its caches.

`ChunkBase` holds one chunk's settings (the crosswalk's spellings of missing, true and
false), the values that could not be mapped (`Unmapped`, shared by the chunks of a
delivery) and what the rules compute once per chunk (parsed dates, missing cells).
The rules themselves are in `engine_values`, `engine_ages`, `engine_lists` and
`engine_keys`; `engine` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import polars as pl

from ctdc_assets.crosswalk.model import Crosswalk, normalize
from ctdc_assets.standard import Standard

if TYPE_CHECKING:
    from ctdc_assets.crosswalk.engine_keys import SeenRows

PROVENANCE_COLUMNS = ("delivery_date", "delivery_sha256", "loaded_at")
#: What `unmapped.source_value` shows instead of a value from an identifier column.
WITHHELD = "(withheld: identifier column)"
_UNMAPPED_SCHEMA = {
    "variable": pl.String,
    "source_column": pl.String,
    "source_value": pl.String,
    "rows": pl.Int64,
    "first_rows": pl.String,
}
#: How many row numbers of each unmapped value are kept (where to look, not a list).
FIRST_ROWS = 5
#: Separates the parts of a record key's message.
SEP = "\x1f"


class Unmapped:
    """Collects unmapped values, withholding anything from identifier columns.

    The others are kept as delivered: they stay in the warehouse (`audit.findings`),
    and whatever is shown outside it goes through `ctdc_assets.redaction`."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.identifiers = set(identifiers)
        self.rows: list[tuple[str, str, str, int, list[int]]] = []

    def add(
        self, variable: str, column: str, value: str, rows: int, first_rows: Iterable[int] = ()
    ) -> None:
        """`first_rows`: the delivery's row numbers (`source_row`) of the first rows."""
        if rows:
            numbers = sorted(first_rows)[:FIRST_ROWS]
            self.rows.append((variable, column, self.safe(column, value), int(rows), numbers))

    def safe(self, column: str, value: str) -> str:
        if column in self.identifiers:
            return WITHHELD
        return value if len(value) <= 80 else value[:77] + "..."

    def frame(self) -> pl.DataFrame:
        """One row per (variable, column, value): rows summed over the chunks, the first
        row numbers as text (`12, 40, 77`)."""
        if not self.rows:
            return pl.DataFrame(schema=_UNMAPPED_SCHEMA)
        schema = _UNMAPPED_SCHEMA | {"first_rows": pl.List(pl.Int64)}
        return (
            pl.DataFrame(self.rows, schema=schema, orient="row")
            .group_by("variable", "source_column", "source_value", maintain_order=True)
            .agg(pl.col("rows").sum(), pl.col("first_rows").flatten())
            .with_columns(
                pl.col("first_rows")
                .list.sort()
                .list.head(FIRST_ROWS)
                .cast(pl.List(pl.String))
                .list.join(", ")
            )
            .sort(["variable", "rows", "source_value"], descending=[False, True, False])
        )


def first_rows(frame: pl.DataFrame, column: str, values: Iterable[str]) -> dict[str, list[int]]:
    """The first row numbers (`source_row`) holding each of `values` in `column`, in one
    pass over the chunk (unmapped values are few; the chunk is not)."""
    wanted = list(values)
    if not wanted or "source_row" not in frame.columns:
        return {}
    found = (
        frame.lazy()
        .filter(pl.col(column).is_in(wanted))
        .group_by(column)
        .agg(pl.col("source_row").sort().head(FIRST_ROWS))
        .collect()
    )
    return dict(found.iter_rows())


def parse_date(column: str, date_format: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.strptime(pl.Date, date_format, strict=False)


class ChunkBase:
    """One chunk's work; `unmapped` and `seen` are shared by the chunks of a delivery."""

    def __init__(
        self, cw: Crosswalk, std: Standard, key: bytes, unmapped: Unmapped, seen: SeenRows
    ) -> None:
        self.cw = cw
        self.std = std
        self.key = key
        self.missing_code = std.missing_code
        self.missing = set(cw.missing_values)
        self.true = set(cw.booleans.true)
        self.false = set(cw.booleans.false)
        self.unmapped = unmapped
        self.seen = seen
        self._dates: dict[tuple[str, str], pl.Series] = {}
        self._missing_rows: dict[str, pl.Series] = {}
        self._ages: dict[tuple[str | None, ...], pl.DataFrame] = {}
        #: orders -> those rows with every delivered column, when `frame` is narrowed
        self.rows_of: Callable[[pl.Series], pl.DataFrame] | None = None

    def date(self, frame: pl.DataFrame, column: str, date_format: str) -> pl.Series:
        """A date column parsed once per harmonize run (several rules share birthdates)."""
        key = (column, date_format)
        if key not in self._dates:
            self._dates[key] = frame.select(parse_date(column, date_format)).to_series()
        return self._dates[key]

    def raw_values(
        self, frame: pl.DataFrame, column: str, test: Callable[[str], bool]
    ) -> pl.Series:
        """Distinct raw values of a column whose normalised form passes `test` (checking
        distinct values in Python is much faster than normalising every row)."""
        distinct = frame.get_column(column).drop_nulls().unique()
        return pl.Series(
            column, [v for v in distinct.to_list() if test(normalize(v))], dtype=pl.String
        )

    def is_missing(self, frame: pl.DataFrame, column: str) -> pl.Series:
        """Per row: blank or a missing spelling."""
        if column not in self._missing_rows:
            spellings = self.raw_values(frame, column, lambda key: key in self.missing)
            self._missing_rows[column] = frame.select(
                pl.col(column).is_null()
                | pl.col(column).is_in(spellings.implode()).fill_null(False)
            ).to_series()
        return self._missing_rows[column]

    def blank(self, means: str | None) -> str:
        """What a blank source value becomes: the rule's `missing`, else -99."""
        return self.missing_code if means is None else means

    def _by_value(
        self,
        frame: pl.DataFrame,
        var: str,
        column: str,
        resolve: Callable[[str], str | None],
        *,
        if_null: str,
        if_unmapped: str,
    ) -> pl.Series:
        """Resolve each distinct value once; None from `resolve` = unmapped (counted)."""
        source = frame.get_column(column)
        mapping: dict[str, str] = {}
        lost: dict[str, int] = {}
        for value, rows in source.value_counts().iter_rows():
            if value is None:
                continue
            target = resolve(value)
            if target is None:
                lost[value] = rows
                target = if_unmapped
            mapping[value] = target
        at = first_rows(frame, column, lost)
        for value, rows in lost.items():
            self.unmapped.add(var, column, value, rows, at.get(value, ()))
        mapped = source.replace_strict(mapping, default=None, return_dtype=pl.String)
        return mapped.fill_null(if_null)

    def _count_bad(self, frame: pl.DataFrame, var: str, column: str, bad: pl.Expr) -> None:
        """Count rows where `bad` holds and the source held a (non-missing) value."""
        present = ~self.is_missing(frame, column)
        numbered = "source_row" in frame.columns
        rows = frame.select(
            pl.col(column),
            pl.col("source_row") if numbered else pl.lit(None, pl.Int64).alias("source_row"),
            (bad & present).alias("_bad"),
        ).filter(pl.col("_bad"))
        if rows.is_empty():
            return
        if column in self.cw.identifiers:
            self.unmapped.add(
                var, column, "", rows.height, rows["source_row"].drop_nulls().head(FIRST_ROWS)
            )
            return
        by_value = rows.group_by(column).agg(
            pl.len().alias("n"), pl.col("source_row").drop_nulls().sort().head(FIRST_ROWS)
        )
        for value, n, at in by_value.iter_rows():
            self.unmapped.add(var, column, value, n, at)

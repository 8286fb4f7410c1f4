"""Apply a crosswalk to a raw delivery: the harmonized table in the CTDC standard.

Order of operations (each step's dropped rows are counted, so that
`delivered - duplicates - no_consent - out_of_scope == harmonized`):

1. de-duplicate re-sent case ids, keeping the latest version (the `dedup` date; ties:
   the later row), so that a later withdrawal of consent wins;
2. drop records without consent; 3. drop records outside the date scope;
4. derive every standard variable from its rule; variables without a rule get the
   standard's missing code.

Every transform is a Polars expression or a join against a small table computed once
per *distinct* source value (value maps, country names, multi-select lists), never a
Python loop over rows. Values that cannot be mapped become the rule's missing/unknown
value and are listed in `Harmonized.unmapped`; values from identifier columns are
withheld there. No source column, identifier or case id reaches `Harmonized.frame`:
every output value belongs to the standard's value sets.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from ctdc_assets.crosswalk.countries import to_alpha2
from ctdc_assets.crosswalk.model import Crosswalk, normalize
from ctdc_assets.crosswalk.model_rules import (
    AgeRule,
    AgeSource,
    ConstantRule,
    CopyRule,
    CountryRule,
    FlagRule,
    FlagSource,
    ListRule,
    MajorityRule,
    MajoritySource,
    MapRule,
    YearRule,
)
from ctdc_assets.crosswalk.readers import DeliveryError, unexpected_columns
from ctdc_assets.standard import Standard, load_standard

COUNT_NAMES = ("delivered", "no_consent", "out_of_scope", "duplicates", "harmonized")
PROVENANCE_COLUMNS = ("delivery_date", "delivery_sha256", "loaded_at")
#: What `unmapped.source_value` shows instead of a value from an identifier column.
WITHHELD = "(withheld: identifier column)"
_UNMAPPED_SCHEMA = {
    "variable": pl.String,
    "source_column": pl.String,
    "source_value": pl.String,
    "rows": pl.Int64,
}
_SEP = "\x1f"


@dataclass
class Harmonized:
    """The harmonized table, how the delivered rows were accounted for, and what was lost."""

    frame: pl.DataFrame
    counts: dict[str, int]
    unmapped: pl.DataFrame
    extra_columns: list[str] = field(default_factory=list)

    def unmapped_share(self) -> dict[str, float]:
        """Per variable: share of harmonized rows whose source value could not be mapped."""
        rows = self.counts["harmonized"]
        if not rows or self.unmapped.height == 0:
            return {}
        per_var = self.unmapped.group_by("variable").agg(pl.col("rows").sum())
        return {v: n / rows for v, n in per_var.iter_rows()}


class _Unmapped:
    """Collects unmapped values, withholding anything from identifier columns.

    The others are kept as delivered: they stay in the warehouse (`audit.findings`),
    and whatever is shown outside it goes through `ctdc_assets.redaction`."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.identifiers = set(identifiers)
        self.rows: list[tuple[str, str, str, int]] = []

    def add(self, variable: str, column: str, value: str, rows: int) -> None:
        if rows:
            self.rows.append((variable, column, self.safe(column, value), int(rows)))

    def safe(self, column: str, value: str) -> str:
        if column in self.identifiers:
            return WITHHELD
        return value if len(value) <= 80 else value[:77] + "..."

    def frame(self) -> pl.DataFrame:
        if not self.rows:
            return pl.DataFrame(schema=_UNMAPPED_SCHEMA)
        return (
            pl.DataFrame(self.rows, schema=_UNMAPPED_SCHEMA, orient="row")
            .group_by("variable", "source_column", "source_value", maintain_order=True)
            .agg(pl.col("rows").sum())
            .sort(["variable", "rows", "source_value"], descending=[False, True, False])
        )


# --------------------------------------------------------------------------- entry point


def harmonize(
    crosswalk: Crosswalk, raw: pl.DataFrame, pseudonym_key: bytes, *, chunk_rows: int | None = None
) -> Harmonized:
    """The raw delivery in the standard schema (+ internal columns), counts and losses.

    `chunk_rows`: rows mapped at a time (default: all); the result does not depend on it.
    """
    harmonizer = Harmonizer(
        crosswalk, pseudonym_key, raw.columns, raw.height, raw.select(dedup_columns(crosswalk))
    )
    step = max(chunk_rows or raw.height, 1)
    frames = [harmonizer.map_chunk(raw.slice(i, step)) for i in range(0, raw.height, step)]
    frame = pl.concat(frames) if len(frames) > 1 else frames[0] if frames else harmonizer.empty()
    return harmonizer.result(frame)


def dedup_columns(crosswalk: Crosswalk) -> list[str]:
    """The columns de-duplication reads (over the whole delivery, before any chunk)."""
    if not crosswalk.dedup or not crosswalk.case_id:
        return []
    return list(dict.fromkeys([crosswalk.case_id, crosswalk.dedup.order_by]))


class Harmonizer:
    """`harmonize` a chunk of rows at a time, in delivery order.

    Every step is row-wise except two: de-duplication of re-sent cases, decided up front
    on the narrow `keys` frame (`dedup_columns`, every delivered row in order), and the
    `n-th identical row` counter of record keys for rows without a case id, carried from
    chunk to chunk (it holds the content of each such row: every row of a crosswalk
    without `case_id`). Counts and unmapped values are summed over the chunks, so the
    result is the same however the rows are cut.
    """

    def __init__(
        self,
        crosswalk: Crosswalk,
        pseudonym_key: bytes,
        columns: list[str],
        rows: int,
        keys: pl.DataFrame,
    ) -> None:
        missing_cols = [c for c in crosswalk.used_columns() if c not in columns]
        if missing_cols:
            raise DeliveryError(
                f"raw.{crosswalk.name}: column(s) the crosswalk needs are missing: "
                f"{', '.join(missing_cols)}"
            )
        self.cw = crosswalk
        self.std = load_standard()
        self.key = pseudonym_key
        self.columns = list(columns)
        self.unmapped = _Unmapped(crosswalk.identifiers)
        self.seen = _SeenRows()
        self.keep = _latest_versions(crosswalk, keys)
        self.delivered = rows
        self.offset = 0
        self.counts = dict.fromkeys(COUNT_NAMES, 0)

    def map_chunk(
        self,
        raw: pl.DataFrame,
        full_rows: Callable[[pl.Series], pl.DataFrame] | None = None,
    ) -> pl.DataFrame:
        """The harmonized rows of the next `raw.height` delivered rows.

        `raw` holds every delivered column, or, with `full_rows`, at least the columns
        the crosswalk reads plus `_rowid`; `full_rows(rowids)` then returns every
        delivered column (in delivery order, plus `_rowid`) of those rows, for record
        keys of rows without a case id.
        """
        wide = raw.with_row_index("_order", offset=self.offset)
        if "source_row" not in wide.columns:
            wide = wide.with_columns((pl.col("_order").cast(pl.Int64) + 1).alias("source_row"))
        ctx = _Context(self.cw, self.std, self.key, self.unmapped, self.seen)
        # Work on the columns the crosswalk reads (identifiers and free text, the widest
        # columns, are not copied by the filters below); the whole delivered row is
        # looked up again only for record keys of rows without a case id.
        frame = wide
        if self.cw.case_id:
            keep = ["_order", "source_row", *self.cw.used_columns(), *PROVENANCE_COLUMNS]
            frame = wide.select(c for c in dict.fromkeys(keep) if c in wide.columns)

            def rows_of(orders: pl.Series) -> pl.DataFrame:
                picked = wide.filter(pl.col("_order").is_in(orders.implode()))
                if full_rows is None:
                    return picked
                full = full_rows(picked.get_column("_rowid"))
                keys = picked.select("_order", "_rowid")
                return keys.join(full, on="_rowid", how="left", maintain_order="left")

            ctx.rows_of = rows_of
        if self.keep is not None:
            frame = frame.filter(self.keep.slice(self.offset, raw.height))
        self.offset += raw.height
        after_dedup = frame.height
        frame = ctx.consent(frame)
        after_consent = frame.height
        frame = ctx.scope(frame)
        self.counts["no_consent"] += after_dedup - after_consent
        self.counts["out_of_scope"] += after_consent - frame.height
        self.counts["duplicates"] += raw.height - after_dedup
        self.counts["harmonized"] += frame.height
        out = ctx.variables(frame)
        out = out.with_columns(ctx.record_key(frame), pl.lit(self.cw.name).alias("contributor"))
        for name in PROVENANCE_COLUMNS:
            out = out.with_columns(
                frame.get_column(name).alias(name)
                if name in frame.columns
                else pl.lit(None).alias(name)
            )
        schema = self.std.polars_schema(internal=True)
        return out.select([pl.col(c).cast(t) for c, t in schema.items()])

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.std.polars_schema(internal=True))

    def result(self, frame: pl.DataFrame) -> Harmonized:
        """`frame` (the chunks' rows, or an empty frame when stored elsewhere) with the
        counts and unmapped values of every chunk mapped so far."""
        if self.offset != self.delivered:
            raise ValueError(f"{self.offset} rows mapped of {self.delivered} delivered")
        counts = {**self.counts, "delivered": self.delivered}
        return Harmonized(
            frame=frame,
            counts={name: counts[name] for name in COUNT_NAMES},
            unmapped=self.unmapped.frame(),
            extra_columns=unexpected_columns(
                self.cw, pl.DataFrame(schema=dict.fromkeys(self.columns, pl.String))
            ),
        )


def _latest_versions(crosswalk: Crosswalk, keys: pl.DataFrame) -> pl.Series | None:
    """Per delivered row: kept by de-duplication (the latest version of its case id;
    ties: the later row; rows without a case id are all kept). None: no de-duplication."""
    if not crosswalk.dedup or not crosswalk.case_id:
        return None
    cid = pl.col(crosswalk.case_id).str.strip_chars()
    order = _parse_date(crosswalk.dedup.order_by, crosswalk.dedup.date_format)
    decided = (
        keys.select(cid.alias("_cid"), order.alias("_version"))
        .with_row_index("_order")
        .sort(["_version", "_order"], nulls_last=False)
        .select(
            "_order", (pl.col("_cid").is_null() | pl.col("_cid").is_last_distinct()).alias("_keep")
        )
        .sort("_order")
    )
    return decided.get_column("_keep")


class _SeenRows:
    """How often each row content (record keys without a case id) occurred in earlier
    chunks, so that the n-th identical row is numbered across the whole delivery."""

    def __init__(self) -> None:
        self.counts = pl.DataFrame(schema={"content": pl.String, "_before": pl.UInt32})

    def number(self, content: pl.Series) -> pl.Series:
        """`content` + separator + its occurrence number (1, 2, ...) in the delivery."""
        frame = content.alias("content").to_frame()
        frame = frame.with_columns(pl.col("content").cum_count().over("content").alias("_n"))
        if self.counts.height:
            frame = frame.join(self.counts, on="content", how="left", maintain_order="left")
            frame = frame.with_columns(pl.col("_n") + pl.col("_before").fill_null(0))
        self.counts = (
            pl.concat(
                [
                    self.counts,
                    frame.group_by("content").agg(pl.len().cast(pl.UInt32).alias("_before")),
                ]
            )
            .group_by("content")
            .agg(pl.col("_before").sum())
        )
        return frame.select(
            (pl.col("content") + pl.lit(_SEP) + pl.col("_n").cast(pl.String)).alias("content")
        ).to_series()


# --------------------------------------------------------------------------- helpers


def _parse_date(column: str, date_format: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.strptime(pl.Date, date_format, strict=False)


def _hmac_hex(key: bytes, messages: list[str]) -> list[str]:
    """HMAC-SHA256 (RFC 2104) of each message, hex. Same result as `hmac.new(key, m,
    sha256)`, about twice as fast: the padded-key states are hashed once and copied."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    out: list[str] = []
    append = out.append
    for message in messages:
        i = inner.copy()
        i.update(message.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        append(o.hexdigest())
    return out


def age_bands(std: Standard) -> list[tuple[str, float, float]]:
    """(code, low, high) of `ageBroad`, read from the standard's codes (`9--17`, `48+`)."""
    bands = []
    for value in std.variable("ageBroad").values or []:
        if m := re.fullmatch(r"(\d+)--(\d+)", value.code):
            bands.append((value.code, float(m[1]), float(m[2])))
        elif m := re.fullmatch(r"(\d+)\+", value.code):
            bands.append((value.code, float(m[1]), math.inf))
    return bands


_AGE_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?:\s*(?:years?|yrs?|y))?")
_AGE_RANGE = re.compile(r"(\d+)\s*(?:-|–|—|to)\s*(\d+)(?:\s*(?:years?|yrs?|y))?")
_AGE_OPEN = re.compile(r"(\d+)\s*\+|(?:over|above)\s*(\d+)")


def parse_age(text: str) -> tuple[float, float] | None:
    """`17` -> (17, 17); `18-24` -> (18, 24); `48+` -> (48, inf); otherwise None."""
    key = normalize(text)
    if m := _AGE_NUMBER.fullmatch(key):
        age = float(math.floor(float(m[1])))
        return (age, age)
    if m := _AGE_RANGE.fullmatch(key):
        low, high = float(m[1]), float(m[2])
        return (low, high) if low <= high else None
    if m := _AGE_OPEN.fullmatch(key):
        return (float(m[1] or m[2]), math.inf)
    return None


# --------------------------------------------------------------------------- the work


class _Context:
    """One chunk's work; `unmapped` and `seen` are shared by the chunks of a delivery."""

    def __init__(
        self, cw: Crosswalk, std: Standard, key: bytes, unmapped: _Unmapped, seen: _SeenRows
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
        self.bands = age_bands(std)
        self.max_age = 120
        self._dates: dict[tuple[str, str], pl.Series] = {}
        self._missing_rows: dict[str, pl.Series] = {}
        self._ages: dict[tuple[str | None, ...], pl.DataFrame] = {}
        #: orders -> those rows with every delivered column, when `frame` is narrowed
        self.rows_of: Callable[[pl.Series], pl.DataFrame] | None = None

    def date(self, frame: pl.DataFrame, column: str, date_format: str) -> pl.Series:
        """A date column parsed once per harmonize run (several rules share birthdates)."""
        key = (column, date_format)
        if key not in self._dates:
            self._dates[key] = frame.select(_parse_date(column, date_format)).to_series()
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

    # ---------------------------------------------------------------- filters

    def consent(self, frame: pl.DataFrame) -> pl.DataFrame:
        rule = self.cw.filters.consent
        if rule is None:
            return frame
        accepted = self.raw_values(frame, rule.column, lambda key: key in rule.accepted)
        return frame.filter(pl.col(rule.column).is_in(accepted.implode()).fill_null(False))

    def scope(self, frame: pl.DataFrame) -> pl.DataFrame:
        for rule in self.cw.filters.scope:
            if rule.date_format:
                when = _parse_date(rule.column, rule.date_format)
                keep = pl.lit(True)
                if rule.on_or_after is not None:
                    keep = keep & (when >= rule.on_or_after)
                if rule.before is not None:
                    keep = keep & (when < rule.before)
                frame = frame.filter(keep.fill_null(rule.keep_undated))
                continue
            value = pl.col(rule.column)
            if rule.include is not None:
                keep = self.raw_values(frame, rule.column, lambda k, r=rule: k in r.include)
                frame = frame.filter(value.is_in(keep.implode()).fill_null(False))
            if rule.exclude is not None:
                drop = self.raw_values(frame, rule.column, lambda k, r=rule: k in r.exclude)
                frame = frame.filter(~value.is_in(drop.implode()).fill_null(False))
        return frame

    # ---------------------------------------------------------------- variables

    def variables(self, frame: pl.DataFrame) -> pl.DataFrame:
        """All published columns in the standard's order, each typed as soon as it is made
        (most are Int8 flags: as text they would take 16 bytes a cell, ~6 GB at 6 million
        rows, before the final cast)."""
        schema = self.std.polars_schema()
        produced: dict[str, pl.Series] = {}
        for var, rule in self.cw.variables.items():
            made = (
                self.list_rule(frame, var, rule)
                if isinstance(rule, ListRule)
                else {var: self.scalar_rule(frame, var, rule)}
            )
            for name, series in made.items():
                produced[name] = series.cast(schema[name]) if name in schema else series
        columns = []
        for name in self.std.columns:
            series = produced.pop(name, None)
            if series is None:
                series = pl.repeat(
                    self.missing_code, frame.height, dtype=pl.String, eager=True
                ).cast(schema[name])
            columns.append(series.alias(name))
        return pl.DataFrame(columns)

    def scalar_rule(self, frame: pl.DataFrame, var: str, rule: object) -> pl.Series:
        if isinstance(rule, ConstantRule):
            return pl.repeat(rule.constant, frame.height, dtype=pl.String, eager=True)
        if isinstance(rule, CopyRule):
            return self.copy(frame, var, rule.copy_)
        if isinstance(rule, MapRule):
            return self.value_map(frame, var, rule)
        if isinstance(rule, FlagRule):
            return self.flag(frame, var, rule.flag)
        if isinstance(rule, CountryRule):
            return self.country(frame, var, rule)
        if isinstance(rule, YearRule):
            return self.year(frame, var, rule)
        if isinstance(rule, AgeRule):
            return self.age(frame, var, rule.age)
        if isinstance(rule, MajorityRule):
            return self.majority(frame, var, rule.majority)
        raise TypeError(f"no engine for {type(rule).__name__}")

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
        for value, rows in source.value_counts().iter_rows():
            if value is None:
                continue
            target = resolve(value)
            if target is None:
                self.unmapped.add(var, column, value, rows)
                target = if_unmapped
            mapping[value] = target
        mapped = source.replace_strict(mapping, default=None, return_dtype=pl.String)
        return mapped.fill_null(if_null)

    def copy(self, frame: pl.DataFrame, var: str, column: str) -> pl.Series:
        """As delivered, if in the standard's value set (list: every label accepted)."""
        variable = self.std.variable(var)
        if variable.type == "list":
            labels = set(self.std.list_labels(var))
            sep = variable.separator or ";"

            def resolve(value: str) -> str | None:
                if value == self.missing_code:
                    return value
                parts = value.split(sep)
                return value if all(p in labels for p in parts) else None
        else:
            allowed = self.std.allowed_values(var)

            def resolve(value: str) -> str | None:
                return value if value in allowed else None

        return self._by_value(
            frame, var, column, resolve, if_null=self.missing_code, if_unmapped=self.missing_code
        )

    def value_map(self, frame: pl.DataFrame, var: str, rule: MapRule) -> pl.Series:
        spec = rule.map
        table = {normalize(k): v for k, v in spec.values.items()}
        if spec.accept_standard_codes:
            codes = {normalize(c): c for c in self.std.allowed_values(var)}
            table = codes | table
        if_missing = spec.missing if spec.missing is not None else self.missing_code
        if_unmapped = spec.unmapped if spec.unmapped is not None else self.missing_code

        def resolve(value: str) -> str | None:
            key = normalize(value)
            if key in table:
                return table[key]
            if key in self.missing:
                return if_missing
            return None

        return self._by_value(
            frame, var, spec.column, resolve, if_null=if_missing, if_unmapped=if_unmapped
        )

    def flag(self, frame: pl.DataFrame, var: str, spec: FlagSource) -> pl.Series:
        if_missing = self.blank(spec.missing)

        def resolve(value: str) -> str | None:
            key = normalize(value)
            if key in self.true:
                return "1"
            if key in self.false:
                return "0"
            return if_missing if key in self.missing else None

        return self._by_value(
            frame,
            var,
            spec.column,
            resolve,
            if_null=if_missing,
            if_unmapped=self.missing_code,
        )

    def blank(self, means: str | None) -> str:
        """What a blank source value becomes: the rule's `missing`, else -99."""
        return self.missing_code if means is None else means

    def country(self, frame: pl.DataFrame, var: str, rule: CountryRule) -> pl.Series:
        spec = rule.country
        unknown = self.std.unknown_country
        if_missing = spec.missing if spec.missing is not None else unknown
        if_unmapped = spec.unmapped if spec.unmapped is not None else unknown
        source = frame.get_column(spec.column)
        distinct = [v for v in source.unique().to_list() if v is not None]
        resolved = to_alpha2(
            distinct, overrides=spec.overrides, missing=self.missing, fuzzy=spec.fuzzy
        )

        def resolve(value: str) -> str | None:
            code = resolved[value]
            return if_missing if code == "" else code

        return self._by_value(
            frame, var, spec.column, resolve, if_null=if_missing, if_unmapped=if_unmapped
        )

    def year(self, frame: pl.DataFrame, var: str, rule: YearRule) -> pl.Series:
        spec = rule.year
        low, high = self.std.variable(var).valid_range or (1900, 2100)
        parsed = _parse_date(spec.column, spec.date_format).dt.year()
        ok = parsed.is_between(low, high)
        blank = self.is_missing(frame, spec.column)
        result = frame.select(
            pl.when(ok)
            .then(parsed.cast(pl.String))
            .when(pl.lit(blank))
            .then(pl.lit(self.blank(spec.missing)))
            .otherwise(pl.lit(self.missing_code))
        ).to_series()
        self._count_bad(frame, var, spec.column, ~ok.fill_null(False))
        return result

    def _count_bad(self, frame: pl.DataFrame, var: str, column: str, bad: pl.Expr) -> None:
        """Count rows where `bad` holds and the source held a (non-missing) value."""
        present = ~self.is_missing(frame, column)
        rows = (
            frame.select(pl.col(column), (bad & present).alias("_bad"))
            .filter(pl.col("_bad"))
            .get_column(column)
        )
        if rows.is_empty():
            return
        if column in self.cw.identifiers:
            self.unmapped.add(var, column, "", rows.len())
            return
        for value, n in rows.value_counts().iter_rows():
            self.unmapped.add(var, column, value, n)

    # ---------------------------------------------------------------- ages

    def _age_interval(self, frame: pl.DataFrame, spec: AgeSource) -> pl.DataFrame:
        """Per row `_low`/`_high` age in years: exact from birthdate, else from `years`.

        Also `_birth_bad` (a birthdate or reference date that is unreadable or gives an
        impossible age), for the unmapped report. Computed once per source (ageBroad and
        majorityStatus usually share one).
        """
        key = (spec.birthdate, spec.at, spec.date_format, spec.years)
        if key not in self._ages:
            self._ages[key] = self._compute_age_interval(frame, spec)
        return self._ages[key]

    def _compute_age_interval(self, frame: pl.DataFrame, spec: AgeSource) -> pl.DataFrame:
        exprs: list[pl.Expr] = []
        dates: list[pl.Series] = []
        low = high = None
        if spec.birthdate and spec.at and spec.date_format:
            # Parse each date column once (a parse repeated inside one expression is not
            # shared), then compute on the parsed dates.
            dates = [
                self.date(frame, spec.birthdate, spec.date_format).alias("_birth"),
                self.date(frame, spec.at, spec.date_format).alias("_at"),
            ]
            birth, at = pl.col("_birth"), pl.col("_at")
            before_birthday = (at.dt.month().cast(pl.Int32) * 100 + at.dt.day()) < (
                birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day()
            )
            age = (
                at.dt.year().cast(pl.Int32)
                - birth.dt.year().cast(pl.Int32)
                - before_birthday.cast(pl.Int32)
            )
            plausible = age.is_between(0, self.max_age)
            exact = pl.when(plausible).then(age.cast(pl.Float64))
            low = high = exact
            exprs.append((birth.is_null() | ~plausible).alias("_birth_bad"))
            exprs.append(at.is_null().alias("_at_bad"))
        if spec.years:
            source = frame.get_column(spec.years)
            lows: dict[str, float] = {}
            highs: dict[str, float] = {}
            for value in source.unique().to_list():
                parsed = parse_age(value) if value is not None else None
                if parsed is not None and parsed[0] <= self.max_age:
                    lows[value], highs[value] = parsed
            y_low = pl.col(spec.years).replace_strict(lows, default=None, return_dtype=pl.Float64)
            y_high = pl.col(spec.years).replace_strict(highs, default=None, return_dtype=pl.Float64)
            low = y_low if low is None else pl.coalesce(low, y_low)
            high = y_high if high is None else pl.coalesce(high, y_high)
        assert low is not None and high is not None
        source = frame.with_columns(dates) if dates else frame
        return source.select(low.alias("_low"), high.alias("_high"), *exprs)

    def _report_age(
        self, frame: pl.DataFrame, var: str, spec: AgeSource, work: pl.DataFrame
    ) -> None:
        """Count the source values behind rows whose age result stayed missing."""
        flagged = pl.concat([frame, work], how="horizontal")
        unresolved = pl.col("_result").is_null()
        if spec.birthdate and spec.at:
            self._count_bad(flagged, var, spec.birthdate, unresolved & pl.col("_birth_bad"))
            self._count_bad(flagged, var, spec.at, unresolved & pl.col("_at_bad"))
        if spec.years:
            # unreadable (`about twenty`) or no single band/status (`18-24` for ageBroad)
            self._count_bad(flagged, var, spec.years, unresolved)

    def age(self, frame: pl.DataFrame, var: str, spec: AgeSource) -> pl.Series:
        work = self._age_interval(frame, spec)
        low, high = pl.col("_low"), pl.col("_high")
        expr = pl.lit(None, dtype=pl.String)
        for code, b_low, b_high in reversed(self.bands):
            expr = pl.when((low >= b_low) & (high <= b_high)).then(pl.lit(code)).otherwise(expr)
        work = work.with_columns(expr.alias("_result"))
        self._report_age(frame, var, spec, work)
        return self._fill_blank(frame, spec, work.get_column("_result"))

    def _fill_blank(self, frame: pl.DataFrame, spec: AgeSource, result: pl.Series) -> pl.Series:
        """Rows without a result: the rule's `missing` where every source is blank, else
        -99 (a value that could not be read, listed as unmapped)."""
        if spec.missing is None:
            return result.fill_null(self.missing_code)
        sources = [c for c in (spec.birthdate, spec.years) if c]
        if isinstance(spec, MajoritySource) and spec.minor_flag:
            sources = [spec.minor_flag]
        blank = pl.all_horizontal(pl.lit(self.is_missing(frame, c)) for c in sources)
        return frame.select(
            pl.when(pl.lit(result).is_not_null())
            .then(pl.lit(result))
            .when(blank)
            .then(pl.lit(spec.missing))
            .otherwise(pl.lit(self.missing_code))
        ).to_series()

    def majority(self, frame: pl.DataFrame, var: str, spec: MajoritySource) -> pl.Series:
        if spec.minor_flag:
            if_missing = self.blank(spec.missing)

            def resolve(value: str) -> str | None:
                key = normalize(value)
                if key in self.true:
                    return "Minor"
                if key in self.false:
                    return "Adult"
                return if_missing if key in self.missing else None

            return self._by_value(
                frame,
                var,
                spec.minor_flag,
                resolve,
                if_null=if_missing,
                if_unmapped=self.missing_code,
            )
        work = self._age_interval(frame, spec)
        adult = spec.adult_from
        work = work.with_columns(
            pl.when(pl.col("_high") < adult)
            .then(pl.lit("Minor"))
            .when(pl.col("_low") >= adult)
            .then(pl.lit("Adult"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias("_result")
        )
        self._report_age(frame, var, spec, work)
        return self._fill_blank(frame, spec, work.get_column("_result"))

    # ---------------------------------------------------------------- lists

    def list_rule(self, frame: pl.DataFrame, var: str, rule: ListRule) -> dict[str, pl.Series]:
        """The list variable's flags + concatenated labels, by a join on distinct cells."""
        spec = rule.list
        variable = self.std.variable(var)
        flags = self.std.flags_of(var)
        canonical = self.std.list_labels(var)
        table: dict[str, list[str]] = {}
        if spec.accept_standard_labels:
            table |= {normalize(k): [v] for k, v in canonical.items()}
        table |= {normalize(k): v for k, v in spec.values.items()}
        missing = self.missing_code
        unlisted = str(spec.unlisted)
        out_names = [f.name for f in flags] + list(spec.combined) + [var]
        # A blank list: not recorded (every output -99), or "none of these" (flags 0).
        blank = [missing] * len(out_names)
        if spec.missing == 0:
            blank = ["0"] * (len(out_names) - 1) + [missing]

        source = frame.get_column(spec.column)
        applies = None
        if spec.only_if is not None:
            cond = spec.only_if
            wanted = self.raw_values(frame, cond.column, lambda k: k in cond.is_one_of)
            applies = frame.select(
                pl.col(cond.column).is_in(wanted.implode()).fill_null(False)
            ).to_series()
        counted = source if applies is None else source.filter(applies)
        rows_out: list[list[str]] = []
        keys: list[str] = []
        for cell, rows in counted.value_counts().iter_rows():
            if cell is None:
                continue
            labels: set[str] = set()
            for item in cell.split(spec.separator):
                key = normalize(item)
                if key in table:
                    labels.update(table[key])
                elif key not in self.missing:
                    self.unmapped.add(var, spec.column, item.strip(), rows)
            keys.append(cell)
            if not labels:
                recorded = any(normalize(i) not in self.missing for i in cell.split(spec.separator))
                rows_out.append([missing] * len(out_names) if recorded else blank)
                continue
            values = ["1" if f.label in labels else unlisted for f in flags]
            for needed in spec.combined.values():
                values.append("1" if set(needed) <= labels else unlisted)
            ordered = [f.label for f in flags if f.label in labels]
            values.append((variable.separator or ";").join(ordered))
            rows_out.append(values)
        lookup = pl.DataFrame(
            [keys, *zip(*rows_out, strict=True)] if rows_out else [[]] * (len(out_names) + 1),
            schema={"_cell": pl.String} | dict.fromkeys(out_names, pl.String),
            orient="col",
        )
        joined = source.alias("_cell").to_frame().join(lookup, on="_cell", how="left")
        joined = joined.with_columns(
            pl.col(name).fill_null(value) for name, value in zip(out_names, blank, strict=True)
        )
        if applies is not None:
            joined = joined.with_columns(
                pl.when(applies).then(pl.col(c)).otherwise(pl.lit(missing)).alias(c)
                for c in out_names
            )
        return {name: joined.get_column(name) for name in out_names}

    # ---------------------------------------------------------------- record key

    def record_key(self, frame: pl.DataFrame) -> pl.Series:
        """HMAC-SHA256 of `<contributor>\\x1f<case id>`, hex; see README for no case id."""
        prefix = f"{self.cw.name}{_SEP}"
        if self.cw.case_id:
            cid = frame.get_column(self.cw.case_id).str.strip_chars().replace("", None)
            messages = pl.select(pl.lit(prefix) + cid).to_series()
            if cid.null_count():
                messages = messages.fill_null(self._row_content_where_null(frame, cid))
        else:
            messages = self._row_content(frame)
        # In slices: a Python list of millions of strings is large (and transient).
        step = 500_000
        keys = [
            pl.Series("record_key", _hmac_hex(self.key, part.to_list()), dtype=pl.String)
            for part in (messages.slice(i, step) for i in range(0, max(messages.len(), 1), step))
        ]
        return pl.concat(keys) if len(keys) > 1 else keys[0]

    def _row_content_where_null(self, frame: pl.DataFrame, cid: pl.Series) -> pl.Series:
        """`_row_content` for the rows without a case id (null elsewhere), from every
        delivered column. Rows with a case id never share content with those without
        (the case id is part of it), so the n-th identical row is counted the same."""
        if self.rows_of is None:
            return self._row_content(frame)
        rows = self.rows_of(frame.get_column("_order").filter(cid.is_null()))
        content = self._row_content(rows)
        return frame.get_column("_order").replace_strict(
            rows.get_column("_order"), content, default=None, return_dtype=pl.String
        )

    def _row_content(self, frame: pl.DataFrame) -> pl.Series:
        """`<contributor>\\x1frow\\x1f<all delivered values>\\x1f<n-th identical row>`."""
        skip = {"_order", "source_row", "source_sheet", *PROVENANCE_COLUMNS}
        payload = [c for c in frame.columns if c not in skip and not c.startswith("_")]
        joined = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("\x00") for c in payload], separator=_SEP
        )
        content = frame.select(
            (pl.lit(f"{self.cw.name}{_SEP}row{_SEP}") + joined).alias("content")
        ).to_series()
        return self.seen.number(content)

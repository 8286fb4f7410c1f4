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

This module runs the steps; the rules are in `engine_values` (copy, map, flag, country,
year), `engine_ages` (age, majority), `engine_lists` (list) and `engine_keys` (record
keys), on the shared `engine_context`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ctdc_assets.crosswalk.engine_ages import AgeRules
from ctdc_assets.crosswalk.engine_context import (
    PROVENANCE_COLUMNS,
    WITHHELD,
    Unmapped,
    parse_date,
)
from ctdc_assets.crosswalk.engine_keys import RecordKeys, SeenRows
from ctdc_assets.crosswalk.engine_lists import ListRules
from ctdc_assets.crosswalk.engine_values import ValueRules
from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.model_rules import (
    AgeRule,
    ConstantRule,
    CopyRule,
    CountryRule,
    FlagRule,
    ListRule,
    MajorityRule,
    MapRule,
    YearRule,
)
from ctdc_assets.crosswalk.readers import DeliveryError, unexpected_columns
from ctdc_assets.standard import load_standard

#: Importers of this module also take these from here.
__all__ = [
    "COUNT_NAMES",
    "PROVENANCE_COLUMNS",
    "WITHHELD",
    "Harmonized",
    "Harmonizer",
    "dedup_columns",
    "harmonize",
]

COUNT_NAMES = ("delivered", "no_consent", "out_of_scope", "duplicates", "harmonized")


@dataclass
class Harmonized:
    """The harmonized table, how the delivered rows were accounted for, and what was lost."""

    frame: pl.DataFrame
    counts: dict[str, int]
    unmapped: pl.DataFrame
    extra_columns: list[str] = field(default_factory=list)


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
        self.unmapped = Unmapped(crosswalk.identifiers)
        self.seen = SeenRows()
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
    order = parse_date(crosswalk.dedup.order_by, crosswalk.dedup.date_format)
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


# --------------------------------------------------------------------------- the work


class _Context(ValueRules, AgeRules, ListRules, RecordKeys):
    """One chunk's work: the filters, then every variable from its rule."""

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
                when = parse_date(rule.column, rule.date_format)
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

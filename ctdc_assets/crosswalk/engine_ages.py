"""Age rules: the standard's age band (`age`) and Minor / Adult (`majority`)."""

from __future__ import annotations

import math
import re
from functools import cached_property

import polars as pl

from ctdc_assets.crosswalk.engine_context import ChunkBase
from ctdc_assets.crosswalk.model import normalize
from ctdc_assets.crosswalk.model_rules import AgeSource, MajoritySource
from ctdc_assets.standard import Standard


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


class AgeRules(ChunkBase):
    """Ages from a birthdate and a reference date, else from an age column."""

    max_age = 120

    @cached_property
    def bands(self) -> list[tuple[str, float, float]]:
        return age_bands(self.std)

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

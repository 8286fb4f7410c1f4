"""Rules that map one column value by value: copy, map, flag, country, year."""

from __future__ import annotations

import polars as pl

from ctdc_assets.crosswalk.countries import to_alpha2
from ctdc_assets.crosswalk.engine_context import ChunkBase, parse_date
from ctdc_assets.crosswalk.model import normalize
from ctdc_assets.crosswalk.model_rules import CountryRule, FlagSource, MapRule, YearRule


class ValueRules(ChunkBase):
    """Each distinct source value resolved once (`_by_value`), then joined to the rows."""

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
        parsed = parse_date(spec.column, spec.date_format).dt.year()
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

"""The list rule: a multi-select column -> the list variable's flags and labels."""

from __future__ import annotations

import polars as pl

from ctdc_assets.crosswalk.engine_context import ChunkBase, first_rows
from ctdc_assets.crosswalk.model import normalize
from ctdc_assets.crosswalk.model_rules import ListRule, ListSource


class ListRules(ChunkBase):
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
        applies = self._applies(frame, spec)
        counted = source if applies is None else source.filter(applies)
        rows_out: list[list[str]] = []
        keys: list[str] = []
        lost: dict[str, list[tuple[str, int]]] = {}  # cell -> its unmapped items
        for cell, rows in counted.value_counts().iter_rows():
            if cell is None:
                continue
            labels: set[str] = set()
            for item in cell.split(spec.separator):
                key = normalize(item)
                if key in table:
                    labels.update(table[key])
                elif key not in self.missing:
                    lost.setdefault(cell, []).append((item.strip(), rows))
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
        self._report_lost(frame if applies is None else frame.filter(applies), var, spec, lost)
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

    def _applies(self, frame: pl.DataFrame, spec: ListSource) -> pl.Series | None:
        """Per row: whether the rule's `only_if` holds (None: the rule has none)."""
        if spec.only_if is None:
            return None
        cond = spec.only_if
        wanted = self.raw_values(frame, cond.column, lambda k: k in cond.is_one_of)
        return frame.select(
            pl.col(cond.column).is_in(wanted.implode()).fill_null(False)
        ).to_series()

    def _report_lost(
        self,
        frame: pl.DataFrame,
        var: str,
        spec: ListSource,
        lost: dict[str, list[tuple[str, int]]],
    ) -> None:
        """Each unmapped item with its rows and the first rows of the cells holding it."""
        at = first_rows(frame, spec.column, lost)
        for cell, items in lost.items():
            for item, rows in items:
                self.unmapped.add(var, spec.column, item, rows, at.get(cell, ()))

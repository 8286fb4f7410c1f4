"""`release.candidate` from `merged.victims` in bounded memory.

Why not `anonymize(read_table(...))`: at 10M records the whole merged table in Polars,
the release table built beside it and its copy into DuckDB need tens of GB. The engine
needs only the quasi-identifiers (and l-diversity attributes), the figures the sensitive
attributes too: those columns are read one at a time, strings as Enums (a byte or two a
cell, not a string). The published table is written by one SQL statement joining the
records to their label codes, so it is never in Python memory.

The row order is the engine's (`anonymize`): by a hash of the published row (Polars
`hash_rows`, seed 0), input order among equal hashes. The hashes are computed on record
batches streamed from DuckDB, so the table is the same, row for row, as the in-memory
engine makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from ctdc_assets.anonymize.engine import (
    Recoding,
    figure_columns,
    label_strings,
    qi_columns,
    recode,
    release_figures_of,
)
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard
from ctdc_assets.warehouse.bounded import BIG_STATEMENT_MEMORY, duckdb_settings, quote, read_columns
from ctdc_assets.warehouse.tables import Table

BATCH_ROWS = 500_000  # rows hashed at a time
_ROW = "_row"


@dataclass
class Candidate:
    """The engine's decisions on the merged table, ready to be written."""

    recoding: Recoding
    rows: np.ndarray  # rowid of every input record, in input order
    position: np.ndarray  # output position of every kept record, in input order
    figures: dict


def anonymize_table(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> Candidate:
    """Run the engine on `table` (read-only), with figures and the output order."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    qis = policy.qi_names
    attributes = policy.l_diversity.attributes if policy.l_diversity else []
    extra = [c for c in [*attributes, *figure_columns(policy)] if c not in qis]
    narrow = read_columns(con, table, list(dict.fromkeys([*qis, *extra])))
    recoding = recode(narrow, policy, standard=standard, hierarchies=hierarchies)
    kept = pl.Series(recoding.kept)
    published = pl.DataFrame(
        {
            **qi_columns(policy, hierarchies, recoding.labels, as_enum=True),
            **{c: narrow[c] for c in figure_columns(policy)},
        }
    ).filter(kept)
    figures = release_figures_of(published, narrow, policy, recoding, standard, hierarchies)
    del published, narrow
    rows = con.execute(f"SELECT rowid FROM {table}").fetchnumpy()["rowid"].astype(np.int64)
    hashes = _row_hashes(con, table, policy, standard, hierarchies, recoding)
    position = np.empty(hashes.size, dtype=np.int64)
    position[np.argsort(hashes, kind="stable")] = np.arange(hashes.size)
    return Candidate(recoding, rows, position, figures)


def figures_of_table(
    con: duckdb.DuckDBPyConnection,
    published_table: Table,
    source_table: Table,
    policy: ReleasePolicy,
    recoding: Recoding,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> dict:
    """The figures of a table as written (a composed candidate is not the engine's output)."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    extra = figure_columns(policy)
    published = read_columns(con, published_table, [*policy.release_qi_columns, *extra])
    source = read_columns(con, source_table, [*policy.qi_names, *extra])
    return release_figures_of(published, source, policy, recoding, standard, hierarchies)


def _row_hashes(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    policy: ReleasePolicy,
    standard: Standard,
    hierarchies: dict[str, Hierarchy],
    recoding: Recoding,
) -> np.ndarray:
    """`hash_rows(seed=0)` of every kept record's published row, in input order."""
    columns = policy.release_columns(standard)
    replaced = set(policy.release_qi_columns)
    plain = [c for c in columns if c not in replaced]
    reader = con.execute(
        f"SELECT {', '.join(quote(c) for c in plain)} FROM {table}"
    ).fetch_record_batch(BATCH_ROWS)
    parts, start = [], 0
    for batch in reader:
        stored = pl.from_arrow(batch)
        assert isinstance(stored, pl.DataFrame)
        end = start + stored.height
        labels = qi_columns(policy, hierarchies, recoding.labels[start:end])
        frame = pl.DataFrame([labels[c] if c in labels else stored[c] for c in columns])
        kept = frame.filter(pl.Series(recoding.kept[start:end]))
        parts.append(kept.hash_rows(seed=0).to_numpy())
        start = end
    if start != recoding.kept.size:
        raise RuntimeError(f"{table} changed while it was read ({start} rows, then more)")
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def write_candidate(
    con: duckdb.DuckDBPyConnection,
    source: Table,
    target: Table,
    candidate: Candidate,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
    keys: bool = False,
) -> None:
    """Replace `target` with the published rows of `source`, in the candidate's order;
    with `keys`, also each row's `record_key` and `source_hash` (of its source row)."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    kept = candidate.recoding.kept
    labels = candidate.recoding.labels[kept]
    recoded = pl.DataFrame(
        {
            _ROW: candidate.rows[kept],
            "_position": candidate.position,
            **{f"_label{j}": labels[:, j] for j in range(labels.shape[1])},
        }
    )
    del labels
    source_of: dict[str, str] = {}
    joins = []
    registered = ["_recoded"]
    con.register("_recoded", recoded)
    try:
        for j, q in enumerate(policy.qi_names):
            strings = label_strings(hierarchies[q])
            lookup = pl.DataFrame(
                {"_code": pl.Series(range(len(hierarchies[q].outputs)), dtype=pl.UInt32)}
            ).with_columns(*strings.values())
            name = f"_labels{j}"
            con.register(name, lookup)
            registered.append(name)
            joins.append(f"JOIN {name} AS l{j} ON l{j}._code = r._label{j}")
            source_of |= {c: f"l{j}.{quote(c)}" for c in strings}
        select = ", ".join(
            f"{source_of.get(c, 'v.' + quote(c))} AS {quote(c)}"
            for c in policy.release_columns(standard)
        )
        if keys:
            select += f", v.record_key, {source_hash_sql(standard.columns, 'v')} AS source_hash"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {target.schema}")
        # One thread, as `replace_table` writes: at 92k records half the CPU of two.
        with duckdb_settings(con, memory_limit=BIG_STATEMENT_MEMORY, threads=1):
            con.execute(
                f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM {source} AS v "
                f"JOIN _recoded AS r ON v.rowid = r.{_ROW} {' '.join(joins)} "
                "ORDER BY r._position"
            )
    finally:
        for name in registered:
            con.unregister(name)


def source_hash_sql(columns: list[str], alias: str) -> str:
    """SQL: a digest of a record's source values, which changes when any of them does."""
    cells = ", ".join(f"coalesce(CAST({alias}.{quote(c)} AS VARCHAR), chr(0))" for c in columns)
    return f"md5(concat_ws(chr(31), {cells}))"

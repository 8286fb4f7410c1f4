"""The release candidate composed with the last published release, in the warehouse.

The engine recodes every record afresh (`tables.FRESH`, with record keys); `compose`
(`anonymize.increment`) decides which rows to publish against the published-record
state that publication keeps (`tables.PUBLISHED_RECORDS`: every published row with its
record key and source digest, in the encrypted warehouse, never in a release). The
candidate then holds the previous rows of unchanged records and the fresh rows the
composition allows.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import polars as pl

from ctdc_assets.anonymize.engine import qi_columns, recode
from ctdc_assets.anonymize.increment import Composition, compose
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.release.candidate import source_hash_sql
from ctdc_assets.release.plan import ReleasePlan
from ctdc_assets.standard import Standard
from ctdc_assets.warehouse.bounded import BIG_STATEMENT_MEMORY, duckdb_settings, quote
from ctdc_assets.warehouse.io import exists
from ctdc_assets.warehouse.tables import CANDIDATE, CANDIDATE_KEYS, FRESH, PUBLISHED_RECORDS, Table


def class_key_sql(policy: ReleasePolicy, alias: str) -> str:
    """SQL: a record's quasi-identifier class as text (the published QI tuple)."""
    cells = ", ".join(
        f"coalesce(CAST({alias}.{quote(c)} AS VARCHAR), chr(0))" for c in policy.release_qi_columns
    )
    return f"concat_ws(chr(31), {cells})"


def compose_candidate(
    con: duckdb.DuckDBPyConnection, source: Table, target: Table, plan: ReleasePlan
) -> Composition | None:
    """Write `target` (and `CANDIDATE_KEYS`) from `tables.FRESH`, composed with the published
    state if there is one (None: a first release, the engine's records as they are).
    Every release orders its rows by a hash of their content, so the same records give
    the same files (and an unchanged release is not published again)."""
    policy, standard = plan.policy, plan.standard
    columns = ", ".join(quote(c) for c in policy.release_columns(standard))
    composition = None
    if not exists(con, PUBLISHED_RECORDS):
        rows = f"SELECT *, hash({columns}) AS _order FROM {FRESH}"
    else:
        composition = _compose(con, source, policy, standard)
        held = composition.held_new
        if held.len() >= policy.k and _coarsen(con, source, held, plan):
            composition = _compose(con, source, policy, standard)
            together = held.is_in(composition.publish_fresh.implode()).sum()
            composition = replace(composition, recoded_together=int(together))
        con.register("_keep", composition.keep_previous.to_frame("record_key"))
        con.register("_fresh", composition.publish_fresh.to_frame("record_key"))
        # Row order must say nothing about which rows are new: a hash of the content.
        rows = (
            f"SELECT *, hash({columns}) AS _order FROM ("
            f"SELECT {columns}, record_key, source_hash FROM {PUBLISHED_RECORDS} "
            "WHERE record_key IN (SELECT record_key FROM _keep) UNION ALL "
            f"SELECT {columns}, record_key, source_hash FROM {FRESH} "
            "WHERE record_key IN (SELECT record_key FROM _fresh))"
        )
    # Both tables from the same deterministic order (ties of equal rows: by record key),
    # rather than through a temporary copy of the whole table.
    ordered = (
        f"SELECT *, row_number() OVER (ORDER BY _order, record_key) - 1 AS _position FROM ({rows})"
    )
    try:
        with duckdb_settings(con, memory_limit=BIG_STATEMENT_MEMORY, threads=1):
            con.execute(
                f"CREATE OR REPLACE TABLE {target} AS SELECT {columns} FROM ({ordered}) "
                "ORDER BY _position"
            )
            con.execute(
                f"CREATE OR REPLACE TABLE {CANDIDATE_KEYS} AS SELECT _position AS position, "
                f"record_key, source_hash FROM ({ordered}) ORDER BY _position"
            )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {FRESH}")
        if composition is not None:
            con.unregister("_keep")
            con.unregister("_fresh")
    return composition


def _compose(
    con: duckdb.DuckDBPyConnection, source: Table, policy: ReleasePolicy, standard: Standard
) -> Composition:
    return compose(
        con.execute(
            f"SELECT record_key, source_hash, {class_key_sql(policy, 's')} AS class_key "
            f"FROM {PUBLISHED_RECORDS} AS s"
        ).pl(),
        con.execute(
            f"SELECT v.record_key, {source_hash_sql(standard.columns, 'v')} AS source_hash "
            f"FROM {source} AS v"
        ).pl(),
        con.execute(
            f"SELECT record_key, {class_key_sql(policy, 'f')} AS class_key FROM {FRESH} f"
        ).pl(),
        policy.k,
    )


def _coarsen(
    con: duckdb.DuckDBPyConnection, source: Table, keys: pl.Series, plan: ReleasePlan
) -> bool:
    """Recode the held-back new records among themselves, in `tables.FRESH`: every class
    they then form holds at least k of them, so it can enter the release together (more
    generalized) rather than wait for k records of one finer class. False if none fit."""
    policy, standard, hierarchies = plan.policy, plan.standard, plan.hierarchies
    attributes = policy.l_diversity.attributes if policy.l_diversity else []
    columns = ", ".join(quote(c) for c in dict.fromkeys([*policy.qi_names, *attributes]))
    con.register("_held", keys.to_frame("record_key"))
    try:
        held = con.execute(
            f"SELECT record_key, {columns} FROM {source} "
            "WHERE record_key IN (SELECT record_key FROM _held)"
        ).pl()
    finally:
        con.unregister("_held")
    recoding = recode(held.drop("record_key"), policy, standard=standard, hierarchies=hierarchies)
    if not recoding.kept.any():
        return False
    labels = qi_columns(policy, hierarchies, recoding.labels[recoding.kept])
    coarse = pl.DataFrame(
        {"record_key": held["record_key"].filter(pl.Series(recoding.kept)), **labels}
    )
    con.register("_coarse", coarse)
    try:
        assignments = ", ".join(f"{quote(c)} = r.{quote(c)}" for c in labels)
        con.execute(
            f"UPDATE {FRESH} SET {assignments} FROM _coarse AS r "
            f"WHERE {FRESH}.record_key = r.record_key"
        )
    finally:
        con.unregister("_coarse")
    return True


def record_published(con: duckdb.DuckDBPyConnection, candidate: Table = CANDIDATE) -> None:
    """After publication: the published rows with their keys become the state the next
    release composes with."""
    with duckdb_settings(con, memory_limit=BIG_STATEMENT_MEMORY, threads=1):
        con.execute(
            f"CREATE OR REPLACE TABLE {PUBLISHED_RECORDS} AS "
            "SELECT c.*, k.record_key, k.source_hash "
            f"FROM {candidate} AS c JOIN {CANDIDATE_KEYS} AS k ON c.rowid = k.position "
            "ORDER BY k.position"
        )

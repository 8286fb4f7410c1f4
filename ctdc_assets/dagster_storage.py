"""Dagster's SQLite event log, without two costs it pays for every event it stores.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for every connection
(`NullPool`), and SQLite syncs the disk at every commit. A cold 92k run stores its
events in ~850 transactions: ~1,300 disk syncs (strace: 0.7 s on an idle disk, more
while the warehouse is being written) and as many engines (~1.5 s). This subclass keeps
one engine per database file per process (the few most recent: the webserver reads
many runs' files) and lets commits to the write-ahead log, which Dagster turns on, go
unsynced (`synchronous=NORMAL`): a power cut may lose the last events, never corrupt
a file. Every use is still its own transaction, so the webserver, the daemon and run
processes share the files as before; run and schedule storage are Dagster's own.

No Dagster setting does this; `deploy/dagster.yaml` selects this class (the PostgreSQL
profile does not use it).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import Field, StringSource
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from ctdc_assets.dagster_private import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    ConfigurableClassData,
    SqliteEventLogStorage,
    UserConfigSchema,
)

#: Database files whose engine a process keeps open (each holds one file descriptor).
OPEN_FILES = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`event_log_storage` in dagster.yaml; its files go where Dagster's would
    (`$DAGSTER_HOME/history/runs/`) unless `base_dir` says otherwise."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[tuple[int, str], Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        base_dir = config_value.get("base_dir") or os.path.join(
            os.environ["DAGSTER_HOME"], "history", "runs", ""
        )
        return cls(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def _engine(self, shard: str) -> Engine:
        key = (os.getpid(), shard)  # a forked child never reuses its parent's connections
        engine = self._engines.get(key)
        if engine is not None:
            self._engines.move_to_end(key)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            pool_size=1,  # `_db_lock` lets one connection be in use at a time
        )
        event.listen(engine, "connect", _commit_without_sync)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[key] = engine
        while len(self._engines) > OPEN_FILES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()


def _commit_without_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

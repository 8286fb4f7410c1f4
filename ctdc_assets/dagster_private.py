"""Every private Dagster API the project relies on, in one place.

Checked against Dagster 1.13.27. This module is the only one in `ctdc_assets` that
imports `dagster._*`; `tests/unit/test_dagster_private.py` imports each name again, checks
the signatures and attributes used here and in `ctdc_assets.dagster_storage`, and
exercises each once against a real instance, so that a Dagster upgrade that removes or
changes one of them fails there, naming it, rather than somewhere in a run.

Public alternatives were looked for in Dagster 1.13 (`dagster.__all__` and the methods
`DagsterInstance` marks `@public`); where one exists it is used instead (`dg.StringSource`,
`dg.DefaultRunLauncher` and `dg.RunsFilter` were imported from private paths before).

==========================================================  ===================================
private API (module)                                        why no public API does it
==========================================================  ===================================
`AssetCheckExecutionRecordStatus`,                          The public API reads materializa-
`COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES`           tions and observations
(`dagster._core.storage.asset_check_execution_record`)      (`fetch_materializations`), not the
                                                            history of an asset check; the
`EventLogStorage.get_asset_check_execution_history`,        storage methods that do, and the
`EventLogStorage.get_latest_asset_check_execution_by_key`   statuses they filter on, are not
(through `DagsterInstance.event_log_storage`, itself not    `@public`. Used by the gates
marked `@public`)                                           (`assets/gating.py`), the quality
                                                            report and the acceptance record.
`SqliteEventLogStorage`                                     No public base class for an event
(`dagster._core.storage.event_log.sqlite.sqlite_event_log`) log storage, and no setting for its
with its `_connect`, `_db_lock`, `_initialized_dbs`,        engine pool or `synchronous`
`_initdb` and `conn_string_for_shard`; `ConfigurableClass-  pragma (`dagster_storage.py`); a
Data` (`dagster._serdes`), `UserConfigSchema`               storage class selected in
(`dagster._config.config_schema`) and                       dagster.yaml must take
`SQLITE_BUSY_TIMEOUT_SECONDS` (`dagster._core.storage.      `ConfigurableClassData`.
sqlite`)
`CheckRunHealthResult`, `WorkerStatus`                      A run launcher's health check (run
(`dagster._core.launcher`)                                  monitoring, `run_guard.py`) must
                                                            return these; they are not exported.
`IN_PROGRESS_RUN_STATUSES`                                  Dagster's own list of the statuses
(`dagster._core.storage.dagster_run`)                       of a run not yet finished, which
                                                            `run_guard.py` reaps; not exported.
==========================================================  ===================================

(`tests/integration/test_faults.py` also drives two daemon internals,
`execute_concurrency_slots_iteration` and `monitor_started_run` from
`dagster._daemon.monitoring`, to run the daemon's passes one at a time; the test here
checks them too.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set

import dagster as dg
from dagster._config.config_schema import UserConfigSchema
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

#: Dagster version the private APIs above were checked against.
CHECKED_AGAINST = "1.13.27"

#: The status of an asset check's execution record (PLANNED, SUCCEEDED, FAILED).
CheckExecutionStatus = AssetCheckExecutionRecordStatus
CheckExecutionRecord = AssetCheckExecutionRecord

__all__ = [
    "CHECKED_AGAINST",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "CheckExecutionRecord",
    "CheckExecutionStatus",
    "CheckRunHealthResult",
    "ConfigurableClassData",
    "SqliteEventLogStorage",
    "UserConfigSchema",
    "WorkerStatus",
    "asset_check_history",
    "completed_check_statuses",
    "in_progress_run_statuses",
    "latest_check_executions",
]


def completed_check_statuses() -> Set[CheckExecutionStatus]:
    """The statuses of a check execution that evaluated something (SUCCEEDED, FAILED).

    A check planned in a run whose asset step failed stays PLANNED and never evaluates.
    """
    return COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES


def in_progress_run_statuses() -> list[dg.DagsterRunStatus]:
    """Dagster's statuses of a run not finished yet (starting, started, canceling, ...)."""
    return IN_PROGRESS_RUN_STATUSES


def asset_check_history(
    instance: dg.DagsterInstance,
    check_key: dg.AssetCheckKey,
    *,
    limit: int,
    status: Set[CheckExecutionStatus] | None = None,
) -> Sequence[CheckExecutionRecord]:
    """The latest `limit` executions of a check, newest first (only `status` ones if given)."""
    return instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=limit, status=status
    )


def latest_check_executions(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]
) -> Mapping[dg.AssetCheckKey, CheckExecutionRecord]:
    """The latest execution of each check, by key (checks that never ran are absent)."""
    return instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))

"""The Dagster resources: what an asset or gate is handed to do its work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from ctdc_assets.config import Settings
from ctdc_assets.quality import gx_executor
from ctdc_assets.release.plan import ReleasePlan
from ctdc_assets.warehouse.database import WarehouseFile

#: The concurrency pool of every step that touches the warehouse file (limit 1 in
#: dagster.yaml: DuckDB allows one writing process per file).
POOL = "warehouse"


class Warehouse(dg.ConfigurableResource):
    """Connections to the warehouse while a step needs it; the key never enters the run config."""

    path: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(path=str(settings.warehouse_file))

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with WarehouseFile(Path(self.path)).connection(read_only=read_only) as con:
            yield con


class ReleasePlanResource(dg.ConfigurableResource):
    """The release plan (policy, standard, hierarchies), loaded and validated when a run
    that needs it starts, and the same for every step of that run (`release.plan`)."""

    policy_file: str
    _plan: ReleasePlan | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReleasePlanResource:
        return cls(policy_file=str(settings.policy_file))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._plan = ReleasePlan.load(Path(self.policy_file))

    @property
    def plan(self) -> ReleasePlan:
        if self._plan is None:  # used outside a run (a direct call in a script)
            self._plan = ReleasePlan.load(Path(self.policy_file))
        return self._plan


class GreatExpectations(dg.ConfigurableResource):
    """What the GX gates judge with: Great Expectations in a worker process of its own
    (`quality.gx_executor`), the process's one. Dagster sets resources up when a run
    starts, so a run with a GX gate starts the worker before its first step, and GX's
    ~4 s import overlaps the steps before the gate (`ctdc run` starts it earlier still)."""

    @property
    def executor(self) -> gx_executor.GXExecutor:
        return gx_executor.shared()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.executor.start()

"""Great Expectations in a worker process of its own, so that its import overlaps a run's start-up.

Why a separate process: `import great_expectations` costs ~4 s of pure-Python module
execution on a 2-core machine, more than any gate's own work at 92,000 records and the
biggest fixed cost of a run. Imported in the gate's process it holds the GIL
throughout, so a background thread gains nothing (and importing it in a thread raced
Dagster's own lazy imports: `sqlalchemy.orm` partly initialized, a failed run). A
spawned worker imports it on the other core while the run starts and loads
deliveries. In cold 92k `ctdc run`s (`bench/run.py`, 4 runs each way, interleaved,
2026-12-02) the raw, harmonized and merged gates took 5.4 s against 9.1 s with GX
imported in the run's process, and the run 37.9 s against 42.3 s (medians): ~4 s,
10 % of the run, for 0.16 GiB more peak memory. Gates send the worker small frames
(distinct values, see `prepare`) and get GX's verdicts back as plain data.

`GXExecutor` is a `ProcessPoolExecutor` with one worker, started with `spawn` (the
default `fork` would copy Polars' thread pool and Dagster's threads into the child);
its initializer imports GX before the first task. `start()` is idempotent and cheap:
`ctdc run` calls it first thing (on `shared()`, the one executor of the process), the
gates' Dagster resource (`checks.GreatExpectations`, which hands it to the gates) when
a run with a GX gate starts, and `check` or `validate` when needed. If the worker
dies, the call that was waiting raises `BrokenProcessPool` (gates fail closed) and the
next call starts a new worker (as does a call after it died idle). Requests are
pickles on the pool's pipes: the worker trusts only its parent.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # not imported: this module starts the GX worker, as early as it can
    import polars as pl

__all__ = ["Checked", "GXExecutor", "Verdict", "shared"]


@dataclass(frozen=True)
class Verdict:
    """GX's result for one expectation, as plain data (no GX objects cross over)."""

    success: bool
    result: dict[str, Any]
    exception_info: dict[str, Any]


@dataclass(frozen=True)
class Checked:
    """What GX says of one expectation's configuration."""

    error: str | None = None  # why GX rejects it; None when valid
    row_wise: bool = False  # a map expectation: each row judged on its own values


#: How long an idle worker is given to exit before it is terminated.
STOP_SECONDS = 2.0


class GXExecutor:
    """One GX worker process: `check` and `validate` run there, one call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker, which imports GX at once; a no-op when it runs already."""
        with self._lock:
            if self._pool is None:
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_load,
                )
                with _without_main_script():
                    pool.submit(os.getpid)  # the worker starts with the first task
                self._pool = pool

    def check(self, expectations: list[dict[str, Any]]) -> list[Checked]:
        """GX's opinion of each expectation (type, kwargs, meta, description, severity)."""
        return self._call(_check, (expectations,))

    def validate(
        self, frame: pl.DataFrame | int, configs: list[dict[str, Any]], index_columns: list[str]
    ) -> dict[int, Verdict]:
        """Validate `configs` (dicts with a `meta._i` index) on `frame`; verdicts by index.

        `frame` is a Polars frame (GX sees it as pandas), or a row count for a frame of
        that many rows and no columns (row-count expectations).
        """
        return self._call(_validate, (frame, configs, index_columns))

    def stop(self) -> None:
        """End the worker (at exit, or to start afresh). An idle worker is asked to exit,
        so it releases what it holds (one killed while idle leaves a semaphore of GX's
        imports that multiprocessing's resource tracker warns about); one still importing
        GX after `STOP_SECONDS` is terminated: nothing is lost."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            processes = _workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.join(STOP_SECONDS)
                if process.is_alive():
                    process.terminate()
            pool.shutdown(wait=True)

    def _call(self, function: Callable[..., Any], args: tuple, *, again: bool = True) -> Any:
        self.start()
        pool = self._pool
        assert pool is not None
        try:
            future = pool.submit(_answer, function, *args)
        except BrokenProcessPool as error:  # it died while idle: nothing lost, start anew
            stopped = _stopped(pool)
            self._discard(pool)
            if again:
                return self._call(function, args, again=False)
            raise stopped from error
        try:
            return future.result()
        except BrokenProcessPool as error:
            stopped = _stopped(pool)
            self._discard(pool)  # the next call starts a new worker
            raise stopped from error

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False)


def _stopped(pool: ProcessPoolExecutor) -> BrokenProcessPool:
    """The error of a call whose worker died (before the pool is shut down)."""
    codes = ", ".join(str(p.exitcode) for p in _workers(pool)) or "unknown"
    return BrokenProcessPool(
        "the Great Expectations process stopped before answering "
        f"(exit code {codes}: out of memory, or killed?)"
    )


def _workers(pool: ProcessPoolExecutor) -> list[Any]:
    """The pool's worker processes (Python 3.14 has `terminate_workers()` for this)."""
    return list((getattr(pool, "_processes", None) or {}).values())


@contextlib.contextmanager
def _without_main_script() -> Iterator[None]:
    """`spawn` re-runs the parent's main script in the child (as `__mp_main__`) unless
    it was run with `-m`: a script without an `if __name__ == "__main__"` guard would
    start its gates again there, and `ctdc` or `dagster` would import their command
    line before GX. The child needs nothing from it: the worker's functions live here."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__
    try:
        yield
    finally:
        sys.modules["__main__"] = main


_shared: tuple[int, GXExecutor] | None = None
_shared_lock = threading.Lock()


def shared() -> GXExecutor:
    """The executor of this process (a forked child gets its own)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), GXExecutor())
        return _shared[1]


# --------------------------------------------------------------------------- in the worker

_state: dict[str, Any] = {}


def _load() -> None:
    """Import GX and make one ephemeral context with a pandas frame asset.

    Without the cyclic garbage collector: the import only builds objects that live as
    long as the process, which the collector would scan again and again (~0.5 s of the
    import). Frozen afterwards, they are never scanned while the worker validates.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # never phone home
    gc.disable()
    import great_expectations as gx
    from great_expectations.expectations import expectation as base

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    asset = context.data_sources.add_pandas("ctdc_quality").add_dataframe_asset("frame")
    _state.update(
        gx=gx,
        batch_definition=asset.add_batch_definition_whole_dataframe("whole"),
        row_wise=(
            base.ColumnMapExpectation,
            base.ColumnPairMapExpectation,
            base.MulticolumnMapExpectation,
        ),
    )
    gc.freeze()
    gc.enable()


def _answer(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except Exception as error:  # GX's own classes would need GX to unpickle: text
        raise RuntimeError(f"Great Expectations failed: {type(error).__name__}: {error}") from None


def _check(expectations: list[dict[str, Any]]) -> list[Checked]:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    checked = []
    for raw in expectations:
        try:
            implementation = type(ExpectationConfiguration(**raw).to_domain_obj())
        except ExpectationNotFoundError:
            checked.append(Checked(error="unknown expectation type"))
            continue
        except Exception as error:  # pydantic / GX configuration errors
            message = " ".join(str(error).split())
            checked.append(Checked(error=f"invalid configuration: {message[:300]}"))
            continue
        checked.append(Checked(row_wise=issubclass(implementation, _state["row_wise"])))
    return checked


def _validate(
    frame: pl.DataFrame | int, configs: list[dict[str, Any]], index_columns: list[str]
) -> dict[int, Verdict]:
    """Two passes: every expectation with BOOLEAN_ONLY (half the cost of COMPLETE), then
    only the failed ones again with COMPLETE, for their unexpected rows and values."""
    import pandas as pd
    from great_expectations.util import convert_to_json_serializable

    data = pd.DataFrame(index=pd.RangeIndex(frame)) if isinstance(frame, int) else frame.to_pandas()
    complete: dict[str, Any] = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
    if index_columns:
        complete["unexpected_index_column_names"] = index_columns
    batch = _state["batch_definition"].get_batch(batch_parameters={"dataframe": data})
    results = _run(batch, configs, {"result_format": "BOOLEAN_ONLY"})
    failed = [c for c in configs if not results[c["meta"]["_i"]].success]
    if failed:
        results.update(_run(batch, failed, complete))
    return {
        index: Verdict(
            success=bool(r.success),
            result=convert_to_json_serializable(r.result or {}),
            exception_info=convert_to_json_serializable(r.exception_info or {}),
        )
        for index, r in results.items()
    }


def _run(batch: Any, configs: list[dict[str, Any]], result_format: dict) -> dict[int, Any]:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    gx = _state["gx"]
    expectations = [ExpectationConfiguration(**config).to_domain_obj() for config in configs]
    suite = gx.ExpectationSuite(name="ctdc_bridge", expectations=expectations)
    validation = batch.validate(suite, result_format=result_format)
    return {r.expectation_config.meta["_i"]: r for r in validation.results}

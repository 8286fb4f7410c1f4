"""Great Expectations in its own process, so that its import overlaps a run's start-up.

`import great_expectations` costs ~4 s of pure-Python module execution on a 2-core
machine: more than any gate's own work at 92,000 records, and the biggest fixed cost of
a run. Imported in the gate's process it holds the GIL throughout, so a background
thread gains nothing; and importing it in a thread raced Dagster's own lazy imports
(`sqlalchemy.orm` partly initialized: a failed run). A spawned process imports it on
the other core while the run starts and loads deliveries; gates send it small frames
(distinct values, see `bridge`) and get GX's verdicts back as plain data.

`start()` is idempotent and cheap: `ctdc run` calls it first thing, the gates' Dagster
resource (`checks.GreatExpectations`) when a run with a GX gate starts, and `check` or
`validate` start it when needed. There is
one such process per run process (or test session), ended with it; if it dies, the
gate that was waiting fails (gates fail closed) and the next call starts a new one.
Requests are pickles on a pipe: the process trusts only its parent.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # not imported: this module starts the GX process, as early as it can
    import polars as pl

__all__ = ["Checked", "Verdict", "check", "start", "stop", "validate"]


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


class _Process:
    """The child: requests and answers are pickles on two pipes of its own (its stdout
    and stderr stay the parent's, for GX's logs). Not `multiprocessing`: its spawn
    re-runs the parent's main script in the child, which breaks any caller without an
    `if __name__ == "__main__"` guard."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked child of ours must start its own
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()
        env = dict(os.environ, GX_ANALYTICS_ENABLED="False")  # never phone home
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # find what we find
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from {__name__} import _serve; _serve({child_reads}, {child_writes})",
            ],
            pass_fds=(child_reads, child_writes),
            env=env,
        )
        os.close(child_reads)
        os.close(child_writes)
        self.requests: IO[bytes] = os.fdopen(parent_writes, "wb")
        self.answers: IO[bytes] = os.fdopen(parent_reads, "rb")

    def call(self, function: str, *args: Any) -> Any:
        try:
            pickle.dump((function, args), self.requests, protocol=pickle.HIGHEST_PROTOCOL)
            self.requests.flush()
            status, value = pickle.load(self.answers)
        except (EOFError, OSError) as error:
            self.stop()  # reap it: its pipes close before the kernel lets it be reaped
            raise RuntimeError(
                "the Great Expectations process stopped before answering "
                f"(exit code {self.process.returncode}: out of memory, or killed?)"
            ) from error
        if status == "error":
            raise RuntimeError(value)
        return value

    def stop(self) -> None:
        for pipe in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                pipe.close()
        if self.process.poll() is None:  # idle, importing or dying: nothing to lose
            self.process.terminate()
        self.process.wait()


_lock = threading.Lock()
_process: _Process | None = None


def start() -> None:
    """Start the process, which imports GX at once; a no-op when it runs already."""
    global _process
    with _lock:
        if _process is not None and _process.pid == os.getpid():
            if _process.process.poll() is None:
                return
            _process.stop()  # it died: close its pipes before starting anew
        _process = _Process()


def check(expectations: list[dict[str, Any]]) -> list[Checked]:
    """GX's opinion of each expectation (type, kwargs, meta, description, severity)."""
    return _call("check", expectations)


def validate(
    frame: pl.DataFrame | int, configs: list[dict[str, Any]], index_columns: list[str]
) -> dict[int, Verdict]:
    """Validate `configs` (dicts with a `meta._i` index) on `frame`; verdicts by index.

    `frame` is a Polars frame (GX sees it as pandas), or a row count for a frame of
    that many rows and no columns (row-count expectations).
    """
    return _call("validate", frame, configs, index_columns)


def _call(function: str, *args: Any) -> Any:
    start()
    with _lock:
        assert _process is not None
        return _process.call(function, *args)


def stop() -> None:
    """End the process (at exit, or to start afresh)."""
    global _process
    with _lock:
        if _process is not None and _process.pid == os.getpid():
            _process.stop()
        _process = None


atexit.register(stop)


# --------------------------------------------------------------------------- in the child

_state: dict[str, Any] = {}


def _load() -> None:
    """Import GX and make one ephemeral context with a pandas frame asset.

    Without the cyclic garbage collector: the import only builds objects that live as
    long as the process, which the collector would scan again and again (~0.5 s of the
    import). Frozen afterwards, they are never scanned while the process validates.
    """
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


def _serve(requests_fd: int, answers_fd: int) -> None:
    """The child's loop: load GX, then answer requests until the parent closes the pipe."""
    _load()
    functions = {"check": _check, "validate": _validate}
    with os.fdopen(requests_fd, "rb") as requests, os.fdopen(answers_fd, "wb") as answers:
        while True:
            try:
                function, args = pickle.load(requests)
            except EOFError:
                return
            try:
                answer = ("ok", functions[function](*args))
            except Exception as error:  # GX's own classes would need GX to unpickle: text
                answer = ("error", f"Great Expectations failed: {type(error).__name__}: {error}")
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()


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

"""Great Expectations runs in a worker process of its own: what a user of the gates notices."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import polars as pl
import pytest

from ctdc_assets.quality.evaluate import run_suite
from ctdc_assets.quality.gx_executor import GXExecutor

SUITE = {
    "name": "people",
    "expectations": [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "gender", "value_set": ["Female", "Male"]},
            "severity": "critical",
        }
    ],
}
FRAME = pl.DataFrame({"gender": ["Female", "Male", "Robot"], "source_row": [1, 2, 3]})


def test_a_script_without_a_main_guard_runs_gates(tmp_path: Path) -> None:
    """A plain script (no `if __name__ == "__main__"`) gets the gate's verdict; the
    gate's own process never imports GX."""
    script = tmp_path / "check_people.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import polars as pl
            from ctdc_assets.quality.evaluate import run_suite
            frame = pl.DataFrame({FRAME.to_dict(as_series=False)!r})
            result = run_suite({SUITE!r}, frame, gate="script")
            print(result.critical_failures[0].sentence())
            print("great_expectations" in sys.modules)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    sentence, imported = done.stdout.strip().splitlines()[-2:]
    assert "column gender" in sentence and "1 row" in sentence and "row 3" in sentence
    assert imported == "False"


def test_a_gx_worker_that_dies_fails_the_waiting_gate_and_the_next_gate_works() -> None:
    executor = GXExecutor()
    executor.start()
    (process,) = _workers(executor)
    # Killed while it still imports GX (seconds), after the gate has asked (milliseconds).
    threading.Timer(1.0, process.kill).start()
    with pytest.raises(BrokenProcessPool, match="Great Expectations process stopped"):
        run_suite(SUITE, FRAME, gate="during", gx=executor)
    again = run_suite(SUITE, FRAME, gate="after", gx=executor)  # a new worker answers
    assert [o.unexpected for o in again.critical_failures] == [1]
    assert _workers(executor) != [process]
    executor.stop()


def test_a_gx_worker_that_died_while_idle_is_replaced_by_the_next_call() -> None:
    executor = GXExecutor()
    run_suite(SUITE, FRAME, gate="before", gx=executor)
    (process,) = _workers(executor)
    process.kill()
    process.join()
    time.sleep(1.0)  # the pool notices
    again = run_suite(SUITE, FRAME, gate="after", gx=executor)  # no gate was waiting
    assert [o.unexpected for o in again.critical_failures] == [1]
    executor.stop()


def _workers(executor: GXExecutor) -> list:
    assert executor._pool is not None
    return list(executor._pool._processes.values())  # type: ignore[attr-defined]


def test_the_code_location_does_not_import_gx() -> None:
    code = (
        "import sys; from ctdc_assets.definitions import build_definitions; "
        "build_definitions(); print('great_expectations' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"

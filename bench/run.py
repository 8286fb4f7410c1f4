"""Benchmark: the pipeline's per-step and end-to-end time and memory, against a floor.

    make bench                           # 92,000 records
    make bench ARGS="--records 1000000"  # also 10000000

The entry point; the benchmark is the `bench` package (its docstring tells what it does).
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cli import main, parser
from bench.common import INCREMENTAL, Bench, grouped
from bench.measuring import per_step
from bench.report import markdown
from bench.runner import _median, run_bench

__all__ = [
    "INCREMENTAL",
    "Bench",
    "_median",
    "grouped",
    "main",
    "markdown",
    "parser",
    "per_step",
    "run_bench",
]

if __name__ == "__main__":
    sys.exit(main())

"""The command line: `python bench/run.py [options]`, or one phase in a child process."""

from __future__ import annotations

import argparse
import sys

import psutil

import bench as package
from bench.common import GIB, RESULTS, ROOT
from bench.phases import phase_floor, phase_generate
from bench.runner import run_bench


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=package.__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=92_000, help="records in all (default 92,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(RESULTS), help="results folder (default bench/results)")
    p.add_argument("--workdir", help="deployment folder (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the deployment folder afterwards")
    p.add_argument("--select", help="full-run selection (default: everything)")
    p.add_argument(
        "--reuse-landing",
        action="store_true",
        help="keep the deliveries already in WORKDIR/data/landing (everything else is new)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="rounds of full run + incremental, each in a fresh deployment; medians are "
        "reported (default 3 up to 200,000 records, else 1: this machine's speed varies)",
    )
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--skip-incremental", action="store_true")
    p.add_argument("--profile", action="store_true", help="full run under pyinstrument (one round)")
    p.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile the environment first"
    )
    p.add_argument(
        "--max-rss-gib",
        type=float,
        default=round(psutil.virtual_memory().total / GIB * 0.85, 1),
        help="kill a phase whose process tree passes this resident memory (default 85%% of RAM)",
    )
    # Internal: one phase in a child process.
    p.add_argument("--phase", choices=("generate", "floor"), help=argparse.SUPPRESS)
    p.add_argument("--landing", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--delivery-date", default="2025-03-31", help=argparse.SUPPRESS)
    p.add_argument("--contributors", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.records <= 200_000 else 1
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    sys.path.insert(0, str(ROOT))
    if args.phase == "generate":
        phase_generate(args)
    elif args.phase == "floor":
        phase_floor(args)
    else:
        _, ok = run_bench(args)
        return 0 if ok else 1
    return 0

"""Materialize the asset graph with all its checks in one run, on the persistent instance.

Used by `ctdc run` and the benchmark: one process, steps in order, so the cost is the
work itself rather than a process start-up per step; the run is recorded in the
instance so `make ui` shows it with every check result.
"""

from __future__ import annotations

import re
import signal
import warnings
from dataclasses import dataclass, field

import dagster as dg

from ctdc_assets.config import Settings, owner_only
from ctdc_assets.instance import prepare_instance_home
from ctdc_assets.leftovers import remove_leftovers
from ctdc_assets.run_guard import (
    cancel_interrupted_run,
    process_tags,
    reap_dead_runs,
    runs_in_progress,
    signals_noted,
)
from ctdc_assets.run_output import file_logger, log_file, progress_logger


@dataclass
class RunOutcome:
    """What a person needs to know after a run."""

    success: bool
    run_id: str
    materialized: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)
    passed_checks: int = 0
    failed_steps: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    release: str | None = None
    release_unchanged: bool = False  # same content as the current release: none published
    interrupted_by: int | None = None  # the signal that canceled the run
    log_file: str | None = None  # every Dagster event of the run

    @property
    def exit_code(self) -> int:
        """0, 1 when a gate or step failed, 128 + the signal's number when interrupted."""
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return 0 if self.success else 1

    def summary(self) -> str:
        verdict = "succeeded" if self.success else "FAILED"
        if self.interrupted_by is not None:
            name = signal.Signals(self.interrupted_by).name
            verdict = f"CANCELED by {name} (the step running was interrupted, nothing after it ran)"
        lines = [f"Run {self.run_id}: {verdict}"]  # failures first, then warnings
        lines += [f"  GATE FAILED {f}" for f in self.failed_checks]
        lines += [f"  step failed: {s}" for s in self.failed_steps]
        if self.skipped_steps:
            lines.append(f"  not run (upstream failed): {', '.join(self.skipped_steps)}")
        lines += [f"  WARNING {w}" for w in self.warned_checks]
        lines += [
            f"  materialized {len(self.materialized)} assets: {', '.join(self.materialized)}",
            f"  checks passed: {self.passed_checks}, with warnings: {len(self.warned_checks)}, "
            f"failed: {len(self.failed_checks)}",
        ]
        if self.log_file:
            lines.append(f"  Dagster's log of the run (stack traces, warnings): {self.log_file}")
        if self.release and self.release_unchanged:
            lines.append(
                f"Nothing to publish: the content is that of the current release {self.release}"
            )
        elif self.release:
            lines.append(f"Release published at {self.release}")
        return "\n".join(lines)


def run_pipeline(
    settings: Settings, selection: str = "*", *, log_level: str = "CRITICAL"
) -> RunOutcome:
    """Run `selection` (Dagster selection syntax) with its checks; never raises on failure.

    Prints a line per finished step (`run_output`); Dagster's own log goes to a file, and
    to the console only at `log_level` and above."""
    prepare_instance_home(settings)

    from ctdc_assets.assets.release import report_current_release
    from ctdc_assets.automation import RUN_JOB
    from ctdc_assets.definitions import build_definitions

    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(RUN_JOB).with_logger_defs(
        {"console": dg.colored_console_logger, "ctdc_progress": progress_logger}
        | {"ctdc_file": file_logger}
    )
    logs_dir = settings.data_dir / "logs"
    loggers = {
        "console": {"config": {"log_level": log_level}},
        "ctdc_progress": {},
        "ctdc_file": {"config": {"logs_dir": str(logs_dir)}},
    }
    with warnings.catch_warnings():  # Dagster's beta notes: not for the terminal
        warnings.simplefilter("ignore", dg.BetaWarning)
        keys = dg.AssetSelection.from_string(selection).resolve(definitions.resolve_asset_graph())
    with dg.DagsterInstance.get() as instance, signals_noted() as received:
        result = None
        try:
            reap_dead_runs(instance)  # a killed run must not hold the warehouse slot forever
            if not runs_in_progress(instance):
                remove_leftovers(settings)
            result = job.execute_in_process(
                run_config={"loggers": loggers},
                instance=instance,
                raise_on_error=False,
                asset_selection=sorted(keys),
                tags={"ctdc/launched_by": "ctdc run", **process_tags()},
            )
        except KeyboardInterrupt:  # before or after Dagster handled the signals
            pass
        if (signum := received()) is not None:
            run = cancel_interrupted_run(instance, signum)
            outcome = _outcome(result) if result else RunOutcome(False, run.run_id if run else "")
            outcome.interrupted_by = signum
            owner_only(settings.dagster_home)
            return outcome
        assert result is not None
        if not result.success:  # no daemon here to run the release status sensor
            report_current_release(instance, settings, result.run_id)
    owner_only(settings.dagster_home)  # the files the run created (SQLite, logs)
    outcome = _outcome(result)
    outcome.log_file = str(log_file(logs_dir, result.run_id))
    if outcome.failed_checks or outcome.warned_checks:
        _show_actual_values(outcome, settings)
    return outcome


_LABEL = re.compile(r"the delivery of (\S+) \(sha256 ([0-9a-f]{12})\)")
_GATE = re.compile(r"^(raw|harmonized)/([^:]+):(\w+):")


def _show_actual_values(outcome: RunOutcome, settings: Settings) -> None:
    """For the terminal only: name each delivery by its file and add what the gate found
    (from `audit.findings`), which the instance and reports show redacted."""
    import polars as pl

    from ctdc_assets.assets.resources import Warehouse
    from ctdc_assets.findings import read_findings, terminal_lines
    from ctdc_assets.landing import sha256_file

    names: dict[tuple[str, str], str] = {}

    def with_file(match: re.Match[str], contributor: str) -> str:
        key = (contributor, match.group(2))
        if key not in names:
            folder = settings.landing_dir / contributor
            files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
            names[key] = next(
                (p.name for p in files if sha256_file(p).startswith(match.group(2))), ""
            )
        return f"{names[key]} ({match.group(0)})" if names[key] else match.group(0)

    found: dict[str, pl.DataFrame] = {}
    if settings.warehouse_file.exists():
        with Warehouse.from_settings(settings).connection(read_only=True) as con:
            found = {
                c: read_findings(con, c)
                for line in outcome.failed_checks + outcome.warned_checks
                if (m := _GATE.match(line)) and (c := m.group(2))
            }
    for checks in (outcome.failed_checks, outcome.warned_checks):
        for i, line in enumerate(checks):
            gate = _GATE.match(line)
            if not gate:
                continue
            contributor = gate.group(2)
            line = _LABEL.sub(lambda m, c=contributor: with_file(m, c), line)
            source = f"{gate.group(1)} gate"
            if contributor in found:
                details = terminal_lines(found[contributor], source)
                if gate.group(1) == "harmonized":  # the unmapped values behind its counts
                    details += terminal_lines(found[contributor], "harmonize")
                if details:
                    line += " [found: " + "; ".join(details) + "]"
            checks[i] = line


def _outcome(result: dg.ExecuteInProcessResult) -> RunOutcome:
    outcome = RunOutcome(success=result.success, run_id=result.run_id)
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        outcome.materialized.append(materialization.asset_key.to_user_string())
        if materialization.asset_key.path == ["release", "published"]:
            path = materialization.metadata.get("path")
            outcome.release = str(path.value) if path else None
            status = materialization.metadata.get("status")
            outcome.release_unchanged = bool(status and str(status.value).startswith("unchanged"))
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        detail = evaluation.description or ""
        if not evaluation.passed:
            outcome.failed_checks.append(f"{name}: {detail}")
        elif _warnings(evaluation):
            outcome.warned_checks.append(f"{name}: {detail}")
        else:
            outcome.passed_checks += 1
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        cause = error.cause if error and error.cause else error
        message = cause.message.strip().splitlines()[0] if cause else ""
        message = re.sub(r"^(?:\w+\.)+(\w+): ", r"\1: ", message)  # drop the module path
        outcome.failed_steps.append(f"{_step_name(event.step_key)}: {message}")
    outcome.skipped_steps = [_step_name(e.step_key) for e in result.get_step_skipped_events()]
    return outcome


def _warnings(evaluation: dg.AssetCheckEvaluation) -> int:
    """Warnings a passed gate reported (the bridge counts them in its metadata)."""
    value = evaluation.metadata.get("warnings")
    return int(value.value) if value is not None and value.value else 0


def _step_name(step_key: str) -> str:
    """`raw__hotline_raw_gate` -> `raw/hotline_raw_gate`: the asset as the UI names it."""
    return step_key.replace("__", "/")

"""What `ctdc run` prints while it runs: one line per step as it finishes, and a note
for a step still running; everything Dagster logs goes to a file instead.

Two Dagster loggers added to the run's job (`with_logger_defs`), so the UI's runs keep
Dagster's own console logger: `ctdc_progress` turns step events into lines on stdout,
`ctdc_file` writes every event (DEBUG) and Python warnings to
`data/logs/run-<run id>.log`, owner-only, which the summary names.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import dagster as dg

from ctdc_assets.config import owner_only

STILL_RUNNING_SECONDS = 20.0  # a step running longer gets a line saying so, then again


def log_file(logs_dir: Path, run_id: str) -> Path:
    return logs_dir / f"run-{run_id}.log"


class _StepLines(logging.Handler):
    """Formats Dagster's step events as one line per finished step."""

    def __init__(self, stream=None) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream or sys.stdout
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.verdicts: dict[str, str] = {}
        self.noted: dict[str, int] = {}  # step -> the last "still running" mark printed
        self.state = threading.Lock()  # not `self.lock`: logging.Handler holds that one
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)  # Dagster's events log at DEBUG
        if event is None or not event.step_key:
            return
        step, kind = event.step_key, event.event_type_value
        with self.state:
            if kind == "STEP_START":
                self.started[step] = time.monotonic()
            elif kind == "ASSET_MATERIALIZATION":
                metadata = event.event_specific_data.materialization.metadata
                count = metadata.get("dagster/row_count")
                if count is not None:
                    self.rows[step] = int(count.value)
            elif kind == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                warned = evaluation.passed and evaluation.severity.value == "WARN"
                self.verdicts[step] = (
                    "FAILED" if not evaluation.passed else "warning" if warned else "passed"
                )
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                self._finished(step, kind)

    def _finished(self, step: str, kind: str) -> None:
        began = self.started.pop(step, None)
        seconds = f"{time.monotonic() - began:6.1f} s" if began is not None else " " * 8
        rows = f"{self.rows[step]:>10,} rows" if step in self.rows else " " * 15
        result = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "not run"}[kind]
        if kind == "STEP_SUCCESS" and step in self.verdicts:
            result = f"gate {self.verdicts[step]}"
        name = step.replace("__", "/")
        self.stream.write(f"  {name:<40} {seconds} {rows}  {result}\n")
        self.stream.flush()

    def _tick(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self.state:
                for step, began in self.started.items():
                    mark = int((now - began) // STILL_RUNNING_SECONDS)
                    if mark and self.noted.get(step) != mark:
                        self.noted[step] = mark
                        name = step.replace("__", "/")
                        self.stream.write(f"  … {name} still running ({now - began:.0f} s)\n")
                        self.stream.flush()


@dg.logger(description="`ctdc run`'s terminal: one line per finished step")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("ctdc_progress", level=logging.DEBUG)
    logger.addHandler(_StepLines())
    return logger


@dg.logger(
    config_schema={"logs_dir": str},
    description="every Dagster event of the run, and Python warnings, in one file",
)
def file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logs_dir = Path(init_context.logger_config["logs_dir"])
    logs_dir.mkdir(parents=True, exist_ok=True)
    owner_only(logs_dir)
    path = log_file(logs_dir, init_context.run_id or "unknown")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    path.chmod(0o600)
    logger = logging.Logger("ctdc_file", level=logging.DEBUG)
    logger.addHandler(handler)
    logging.captureWarnings(True)  # Dagster's beta and deprecation warnings: here, not stderr
    logging.getLogger("py.warnings").handlers = [handler]
    logging.getLogger("py.warnings").propagate = False
    return logger

"""The persistent Dagster instance home shared by `ctdc run` and `make ui`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ctdc_assets.config import PROJECT_ROOT, Settings

INSTANCE_TEMPLATE = PROJECT_ROOT / "deploy" / "dagster.yaml"


def prepare_instance_home(settings: Settings) -> Path:
    """Make `DAGSTER_HOME` point at the instance home, with the project's dagster.yaml.

    The project's file is copied only when the home has none, so an operator's own
    instance settings (e.g. the PostgreSQL production profile) are never replaced.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home

"""The persistent Dagster instance home shared by `ctdc run` and `make ui`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ctdc_assets.config import PROJECT_ROOT, Settings, owner_only

INSTANCE_TEMPLATE = PROJECT_ROOT / "deploy" / "dagster.yaml"


def prepare_instance_home(settings: Settings) -> Path:
    """Make `DAGSTER_HOME` point at the instance home, with the project's dagster.yaml.

    The project's file is copied only when the home has none, so an operator's own
    instance settings (e.g. the PostgreSQL production profile) are never replaced. The
    home is owner-only: run history and check results are nobody else's to read.
    """
    home = settings.dagster_home
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INSTANCE_TEMPLATE, config)
    owner_only(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home

"""What a killed run leaves behind, removed before the next run starts.

Publication writes a release into `releases/.incomplete-<id>/` and renames it into
place (and `latest` through a `.latest-<id>` link); DuckDB spills into `data/tmp/`.
A killed run leaves them: a half-written release readable by all, spill files with
personal data. They are removed only when no other run is in progress (whose files
they might be), with a log line each.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ctdc_assets.config import Settings

log = logging.getLogger("ctdc")

RELEASE_LEFTOVERS = (".incomplete-*", ".latest-*")


def remove_leftovers(settings: Settings) -> list[Path]:
    """Remove incomplete release folders, stray `latest` links and DuckDB spill files."""
    removed: list[Path] = []
    if settings.releases_dir.is_dir():
        for pattern in RELEASE_LEFTOVERS:
            removed += sorted(settings.releases_dir.glob(pattern))
    spill = settings.data_dir / "tmp"
    if spill.is_dir():
        removed += sorted(spill.iterdir())
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        log.warning("Removed %s, left by a run that did not finish", path)
    return removed

"""The landing folders where contributors drop their deliveries.

Protocol (documented in the README): a contributor writes `data/landing/<contributor>/`
either by atomic rename (write `name.part`, then rename to `name`), or by writing the
file and then an empty `name.ready` marker. Files still being written (temporary
suffixes, hidden or lock files) are never read. The current delivery is the
complete file that arrived last (modification time, then name).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".lock")
READY_SUFFIX = ".ready"
SUFFIXES_BY_FORMAT = {
    "csv": (".csv", ".txt"),
    "xlsx": (".xlsx",),
    "jsonl": (".jsonl", ".ndjson", ".json"),
    "parquet": (".parquet",),
}


@dataclass(frozen=True)
class Delivery:
    """One complete delivery file."""

    contributor: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def date(self) -> dt.date:
        """The day (UTC) the delivery arrived: how everything outside raw names it."""
        return dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.UTC).date()

    def sha256(self) -> str:
        return sha256_file(self.path)


@dataclass(frozen=True)
class StrayFile:
    """A file in a landing folder that is not (yet) a delivery, and why."""

    path: Path
    reason: str


def delivery_label(date: object, sha256: str) -> str:
    """How reports name a delivery: its date and checksum, never its file name."""
    return f"the delivery of {date} (sha256 {str(sha256)[:12]})"


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class DeliveryRefused(ValueError):
    """A landing folder holds something the pipeline must not read (a symbolic link)."""


def refused_links(folder: Path) -> list[str]:
    """Symbolic links in (or as) a landing folder, each with its target.

    A delivery must be a file in the contributor's own folder: a link may point anywhere
    (another contributor's data, a file outside the landing area) and replace a delivery
    silently, so none is followed.
    """
    links = [folder] if folder.is_symlink() else []
    if folder.is_dir():
        links += sorted(p for p in folder.iterdir() if p.is_symlink())
    return [f"{link} is a symbolic link to {os.readlink(link)}" for link in links]


def scan(
    folder: Path, contributor: str, file_format: str
) -> tuple[list[Delivery], list[StrayFile]]:
    """Complete deliveries (oldest first) and the files passed over, with reasons."""
    if not folder.is_dir() or folder.is_symlink():
        return [], []
    accepted = SUFFIXES_BY_FORMAT.get(file_format, ())
    files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
    markers = {p.name[: -len(READY_SUFFIX)] for p in files if p.name.endswith(READY_SUFFIX)}
    deliveries: list[Delivery] = []
    strays: list[StrayFile] = []
    for path in files:
        name = path.name
        if name.endswith(READY_SUFFIX):
            continue
        if name.startswith(".."):
            strays.append(StrayFile(path, "name starts with '..' (hidden): rename it to deliver"))
        elif name.startswith((".", "~$")):
            strays.append(StrayFile(path, "hidden or lock file"))
        elif name.lower().endswith(IN_PROGRESS_SUFFIXES):
            strays.append(StrayFile(path, "still being written (temporary suffix)"))
        elif markers and name not in markers:
            strays.append(StrayFile(path, f"waiting for its {READY_SUFFIX} marker"))
        elif not name.lower().endswith(accepted):
            expected = ", ".join(accepted)
            strays.append(StrayFile(path, f"not a {file_format} delivery (expected {expected})"))
        else:
            deliveries.append(Delivery(contributor, path))
    deliveries.sort(key=lambda d: (d.path.stat().st_mtime_ns, d.name))
    return deliveries, strays


def current_delivery(folder: Path, contributor: str, file_format: str) -> Delivery:
    """The delivery to load now; a clear error when there is none or a link is present."""
    if links := refused_links(folder):
        raise DeliveryRefused(
            f"{contributor}: refused to read the landing folder: {'; '.join(links)}. "
            "Deliveries must be files in the contributor's own folder; replace the link "
            "by the file itself."
        )
    deliveries, strays = scan(folder, contributor, file_format)
    if not deliveries:
        passed_over = "; ".join(f"{s.path.name}: {s.reason}" for s in strays) or "folder empty"
        raise FileNotFoundError(
            f"No complete {file_format} delivery for {contributor} in {folder} ({passed_over})"
        )
    return deliveries[-1]

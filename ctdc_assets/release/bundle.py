"""Writing a release folder atomically, and never over an earlier one.

The bundle is assembled in a hidden temporary folder next to the releases, verified,
then renamed into place in one step, so a crash leaves either no release or a whole
one; `latest` is a symlink swapped atomically after the rename. A bundle whose content
(records, statistics, dashboard: `content_sha256`) is that of the current release is
not published again: same data, same release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ctdc_assets.landing import sha256_file
from ctdc_assets.release.signing import PUBLIC_KEY, public_key_pem, sign_release
from ctdc_assets.warehouse.bounded import quote

#: Spreadsheet programs execute cells starting with these (CSV injection).
FORMULA_CHARACTERS = "=+@\t\r"
FORMULA_START = f"^[{FORMULA_CHARACTERS}]"
MANIFEST = "manifest.json"
RECORDS_CSV = "victims.csv"
RECORDS_PARQUET = "victims.parquet"
CONTENT_FILES = {RECORDS_CSV, RECORDS_PARQUET, "dashboard.html"}


class ReleaseError(RuntimeError):
    """The release could not be written; nothing was published."""


@dataclass(frozen=True)
class BundleContent:
    """Everything that goes into one release folder.

    `records` may be a DuckDB relation (the candidate table): it is then written by
    DuckDB, streamed, never held in memory whole.
    """

    records: pl.DataFrame | duckdb.DuckDBPyRelation
    tables: Mapping[str, pl.DataFrame]
    files: Mapping[str, Path]  # copied as is, e.g. the dashboard
    texts: Mapping[str, str]  # written as is, e.g. codebook.md, quality_report.md
    manifest: dict


def new_release_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ")


def formula_cells(frame: pl.DataFrame | duckdb.DuckDBPyRelation) -> list[str]:
    """Columns holding a value a spreadsheet would run as a formula."""
    if isinstance(frame, duckdb.DuckDBPyRelation):
        # Only text can start with one of the characters (a number's text never does).
        text = [c for c, t in zip(frame.columns, frame.dtypes, strict=True) if str(t) == "VARCHAR"]
        if not text:
            return []
        firsts = ", ".join(f"chr({ord(c)})" for c in FORMULA_CHARACTERS)
        tests = ", ".join(
            f"coalesce(bool_or(left({quote(c)}, 1) IN ({firsts})), false)" for c in text
        )
        found = frame.aggregate(tests).fetchone() or ()  # no view: the catalog is read-only
        return [name for name, hit in zip(text, found, strict=True) if hit]
    return [
        name
        for name in frame.columns
        if frame[name].cast(pl.String).str.contains(FORMULA_START).any()
    ]


def _write_records(records: pl.DataFrame | duckdb.DuckDBPyRelation, folder: Path) -> None:
    if isinstance(records, duckdb.DuckDBPyRelation):
        records.write_csv(str(folder / RECORDS_CSV), header=True)
        records.write_parquet(str(folder / RECORDS_PARQUET))
    else:
        records.write_csv(folder / RECORDS_CSV)
        records.write_parquet(folder / RECORDS_PARQUET)


def content_sha256(files: Mapping[str, str]) -> str:
    """One digest of what a release says (records, statistics, dashboard), not of how it
    describes itself (release id, dates, the gates' report, the signature)."""
    content = sorted(
        (name, digest)
        for name, digest in files.items()
        if name in CONTENT_FILES or name.startswith("statistics/")
    )
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _content_of(release: Path) -> str | None:
    try:
        manifest = json.loads((release / MANIFEST).read_text(encoding="utf-8"))
        return manifest.get("content_sha256") or content_sha256(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_bundle(
    releases_dir: Path,
    release_id: str,
    content: BundleContent,
    verify: Callable[[Path], list[str]],
    signing_key: Ed25519PrivateKey | None = None,
) -> Path:
    """Write, verify (on the files as written), sign and publish one release folder.

    Returns the new folder, or the current release's when the content is the same (then
    nothing is published: compare the name with `release_id`)."""
    final = releases_dir / release_id
    if final.exists():
        raise ReleaseError(f"Release {final} already exists; releases are never overwritten")
    for name, frame in {RECORDS_CSV: content.records, **content.tables}.items():
        if columns := formula_cells(frame):
            raise ReleaseError(f"{name}: cells starting with a formula character in {columns}")
    releases_dir.mkdir(parents=True, exist_ok=True)
    staging = releases_dir / f".incomplete-{release_id}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_records(content.records, staging)
        (staging / "statistics").mkdir()
        for name, table in content.tables.items():
            table.write_csv(staging / "statistics" / f"{name}.csv")
        for name, source in content.files.items():
            shutil.copyfile(source, staging / name)
        for name, text in content.texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        if problems := verify(staging):
            raise ReleaseError("The release failed its verification: " + "; ".join(problems))
        if signing_key is not None:  # its public key is a file of the release like any other
            (staging / PUBLIC_KEY).write_bytes(public_key_pem(signing_key.public_key()))
        files = {
            str(path.relative_to(staging)): sha256_file(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        digest = content_sha256(files)
        current = latest_release(releases_dir)
        if current is not None and _content_of(current) == digest:
            shutil.rmtree(staging)
            return current
        manifest = content.manifest | {
            "release_id": release_id,
            "content_sha256": digest,
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False))
        if signing_key is not None:
            sign_release(staging, signing_key)
        os.rename(staging, final)  # atomic on one file system; fails if final appeared
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_latest_to(releases_dir, release_id)
    return final


def _point_latest_to(releases_dir: Path, release_id: str) -> None:
    link = releases_dir / "latest"
    temporary = releases_dir / f".latest-{release_id}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(release_id)
    os.replace(temporary, link)


def latest_release(releases_dir: Path) -> Path | None:
    link = releases_dir / "latest"
    return link.resolve() if link.exists() else None

"""Which files in a landing folder count as deliveries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctdc_assets.landing import current_delivery, scan


def _touch(path: Path, text: str = "x", mtime: int | None = None) -> Path:
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_the_newest_complete_delivery_is_current(tmp_path: Path) -> None:
    _touch(tmp_path / "hotline_export_20250101.csv", mtime=1_000)
    _touch(tmp_path / "hotline_export_20250701.csv", mtime=2_000)
    assert current_delivery(tmp_path, "hotline", "csv").name == "hotline_export_20250701.csv"


def test_files_being_written_and_strays_are_passed_over_with_reasons(tmp_path: Path) -> None:
    _touch(tmp_path / "hotline_export_20250101.csv", mtime=1_000)
    _touch(tmp_path / "hotline_export_20250701.csv.part", mtime=2_000)
    _touch(tmp_path / ".~lock.hotline.csv#", mtime=2_000)
    _touch(tmp_path / "notes.docx", mtime=2_000)
    deliveries, strays = scan(tmp_path, "hotline", "csv")
    assert [d.name for d in deliveries] == ["hotline_export_20250101.csv"]
    reasons = {s.path.name: s.reason for s in strays}
    assert "still being written" in reasons["hotline_export_20250701.csv.part"]
    assert "hidden" in reasons[".~lock.hotline.csv#"]
    assert "not a csv delivery" in reasons["notes.docx"]


def test_with_ready_markers_only_marked_files_count(tmp_path: Path) -> None:
    _touch(tmp_path / "a.csv", mtime=1_000)
    _touch(tmp_path / "a.csv.ready", "")
    _touch(tmp_path / "b.csv", mtime=2_000)  # written after a.csv, marker not yet there
    assert current_delivery(tmp_path, "c", "csv").name == "a.csv"
    _touch(tmp_path / "b.csv.ready", "")
    assert current_delivery(tmp_path, "c", "csv").name == "b.csv"


def test_no_delivery_is_a_clear_error(tmp_path: Path) -> None:
    _touch(tmp_path / "x.csv.part")
    with pytest.raises(FileNotFoundError, match=r"No complete csv delivery for c .*x\.csv\.part"):
        current_delivery(tmp_path, "c", "csv")

"""The dashboard file: self-contained, built from protected tables only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from synthetic import statistics_victims

from ctdc_assets.statistics import compute_aggregates
from ctdc_assets.statistics.aggregates import GUIDE
from ctdc_assets.statistics.dashboard import encode_tables, render_dashboard
from ctdc_assets.statistics.worldmap import country_shapes


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return compute_aggregates(statistics_victims(2_000, seed=4), threshold=11)


def test_dashboard_is_one_offline_file(tables, tmp_path: Path):
    path = render_dashboard(tables, tmp_path / "out" / "dashboard.html")
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 10 * 1024 * 1024
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # nothing is loaded from elsewhere: no src/href to a URL, no fetch or XHR
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "fetch(" not in html and "XMLHttpRequest" not in html
    assert not list(path.parent.glob("*.tmp"))


def test_the_page_holds_only_published_counts(tables):
    data = encode_tables(tables)
    for name, table in tables.items():
        if name == GUIDE:
            continue
        shown = data["tables"][name]["n"]
        assert [n for n, hidden in zip(shown, table["suppressed"], strict=True) if hidden] == [
            -1
        ] * int(table["suppressed"].sum())
        assert [n for n in shown if n >= 0] == table["count"].drop_nulls().to_list()
    json.dumps(data)  # plain JSON


def test_dashboard_needs_the_table_guide(tables, tmp_path: Path):
    without = {k: v for k, v in tables.items() if k != GUIDE}
    with pytest.raises(ValueError, match=GUIDE):
        render_dashboard(without, tmp_path / "d.html")


def test_world_outlines_are_drawn_offline_for_most_countries():
    shapes = country_shapes()
    outlines = [code for code, shape in shapes.items() if "d" in shape]
    assert len(outlines) > 150
    assert {"US", "NA", "TH", "BR"} <= set(outlines)


@pytest.mark.browser
def test_preview_image_of_the_dashboard(tables, tmp_path: Path):
    from services import chromium_path

    from ctdc_assets.statistics.dashboard import preview_image

    chromium_path()  # installs Debian chromium when missing
    html = render_dashboard(tables, tmp_path / "dashboard.html")
    png = preview_image(html, tmp_path / "preview.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tables_survive_the_warehouse_round_trip(tables, tmp_path: Path):
    """Stored in DuckDB and read back (as the assets do), they audit and render alike."""
    import duckdb

    from ctdc_assets.statistics import audit_tables

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA statistics")
        for name, frame in tables.items():
            con.register("incoming", frame)
            con.execute(f'CREATE TABLE statistics."{name}" AS SELECT * FROM incoming')
            con.unregister("incoming")
        back = {name: con.execute(f'SELECT * FROM statistics."{name}"').pl() for name in tables}
    assert audit_tables(back, 11) == []
    assert render_dashboard(back, tmp_path / "d.html").stat().st_size > 10_000

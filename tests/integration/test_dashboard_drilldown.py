"""The cell-key dashboard drills down, in the real browser (Debian chromium, Playwright).

A view combines at most two filters besides the years (that keeps `dashboard_cells`
small): the test combines a single year with two of them, checks that no chart is blank,
that every count shown is the perturbed cell of exactly that combination, and that a
chart's CSV download holds what the chart shows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from synthetic import statistics_victims

from ctdc_assets.statistics import compute_aggregates
from ctdc_assets.statistics.aggregates import ALL, DASHBOARD_CELLS
from ctdc_assets.statistics.cellkey import CellKeyParams
from ctdc_assets.statistics.dashboard import render_dashboard
from tests.integration.test_dashboard_browser import network, open_dashboard

pytestmark = pytest.mark.browser
CHARTS = ("regions", "exploitation-country", "citizenship", "gender", "age", "type", "trend-type")


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    victims = statistics_victims(8_000, seed=2)
    keys = np.random.default_rng(4).integers(0, 1 << 32, victims.height)
    victims = victims.with_columns(pl.Series("cell_record_key", keys))
    return compute_aggregates(victims, 11, CellKeyParams(threshold=10))


@pytest.fixture(scope="module")
def dashboard(tables, tmp_path_factory) -> Path:
    return render_dashboard(tables, tmp_path_factory.mktemp("drill") / "dashboard.html")


def cell(tables, **conditions) -> int:
    """The published count of exactly this combination in dashboard_cells."""
    cells = tables[DASHBOARD_CELLS]
    dims = [c for c in cells.columns if c not in ("count", "suppressed", "total", "share")]
    dims = [d for d in dims if d != "unknown_share"]
    match = pl.all_horizontal(pl.col(d) == conditions.get(d, ALL) for d in dims)
    found = cells.filter(match)["count"]
    return int(found[0]) if found.len() else 0


def test_year_and_two_filters_drill_down_without_a_blank_chart(
    chromium_browser, dashboard, tables, tmp_path
) -> None:
    page, seen = open_dashboard(chromium_browser, dashboard)
    for select in ("#f-country", "#f-citizenship", "#f-gender", "#f-age", "#f-type"):
        assert page.locator(select).count() == 1, select
    page.select_option("#year-from", "2019")
    page.select_option("#year-to", "2019")
    page.select_option("#f-gender", "Female")
    page.select_option("#f-type", label="Sexual exploitation")
    page.wait_for_function("window.dashboardRenders >= 3")
    # a third filter besides the year is refused: the remaining ones are disabled
    assert page.locator("#f-age").is_disabled()
    assert page.locator("#region").is_disabled()
    kinds = tables[DASHBOARD_CELLS]["type_of_exploitation"]
    sexual = next(v for v in kinds.unique() if v.startswith("Sexual"))
    expected = cell(tables, year="2019", gender="Female", type_of_exploitation=sexual)
    assert page.inner_text("#kpi-victims") == f"{expected:,}"
    for chart in CHARTS:
        assert page.locator(f"#{chart} rect.mark").count() > 0, f"{chart} is blank"
    # every age bar is the perturbed cell of year, gender, type and that age band
    for label in page.locator("#age rect.mark").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    ):
        band, shown = label.rsplit(": ", 1)
        want = cell(
            tables, year="2019", gender="Female", type_of_exploitation=sexual, age_band=band
        )
        assert int(shown.replace(",", "")) == want, band
    # the CSV download holds what the chart shows
    page.locator('details[data-for="age"] summary').click()
    with page.expect_download() as download:
        page.locator('button.csv[data-for="age"]').click()
    path = tmp_path / "age.csv"
    download.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    shown = page.locator('details[data-for="age"] tbody tr').evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows[0] == ["age band", "victims"]
    assert rows[1:] == [[a, n.replace(",", "")] for a, n in shown]
    assert sum(int(n) for _, n in rows[1:]) > 0
    assert [m for m in seen["console"] if m[0] in ("error", "pageerror")] == []
    assert network(seen) == []
    page.close()


def test_a_range_of_years_says_it_adds_perturbed_counts(chromium_browser, dashboard) -> None:
    page, _ = open_dashboard(chromium_browser, dashboard)
    page.select_option("#year-from", "2016")
    page.select_option("#year-to", "2018")
    page.select_option("#f-cit-region", "Asia")
    page.wait_for_function("window.dashboardRenders >= 2")
    assert "within ±10" in page.inner_text("#gender-note")
    page.locator("#gender rect.mark").first.hover()
    assert "sum of 3 perturbed yearly counts" in page.inner_text("#tip")
    page.close()


def test_top_citizenships_by_count_and_long_labels_whole(chromium_browser, dashboard) -> None:
    page, _ = open_dashboard(chromium_browser, dashboard)
    counts = [
        int(label.rsplit(": ", 1)[1].replace(",", ""))
        for label in page.locator("#citizenship rect.mark").evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"
        )
        if not label.startswith("Unknown")  # listed last, whatever its count
    ]
    assert counts == sorted(counts, reverse=True) and len(counts) > 5
    labels = page.locator("#gender text.label").evaluate_all("els => els.map(e => e.textContent)")
    assert "Transgender/NonConforming" in labels
    badge = page.locator("#flows-note").inner_text()
    page.select_option("#year-from", "2020")
    page.wait_for_function("window.dashboardRenders >= 1")
    assert page.locator("#flows-note").inner_text() == badge  # all years, whatever the filter
    assert page.locator("#flows-note").inner_text().startswith("all years")
    page.close()

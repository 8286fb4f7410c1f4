"""Cell key against suppression on the same records: the figures issue 15 asks for.

    uv run python bench/statistics_methods.py [--records N] [--views N]

Writes the default sample's deliveries (or N records), harmonizes them as the pipeline
does, gives every record a random cell key, then for each method: the time of the
aggregates (warm process, best of two), the share of cells withheld, the mean absolute
and relative error by true-count band, and, in headless chromium, the share of dashboard
views (every single year x every UN region, and the same with a gender filter where the
method has one) in which a chart shows no published count. Results go to
bench/results/<date>-statistics-methods-<records>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ctdc_assets.config import PROJECT_ROOT
from ctdc_assets.crosswalk import harmonize, load_crosswalks, read_delivery
from ctdc_assets.sample_data import write_sample
from ctdc_assets.statistics.aggregates import compute_with_figures, people
from ctdc_assets.statistics.cellkey import CellKeyParams
from ctdc_assets.statistics.dashboard import CHROMIUM, CHROMIUM_ARGS, render_dashboard

CHARTS = ("regions", "exploitation-country", "citizenship", "gender", "age", "type", "trend-type")
BLANK = """charts => charts.filter(id => !document.querySelector(
  '#' + id + ' rect.mark:not([fill="url(#hatch)"])')).length"""


def victims(records: int | None, folder: Path) -> pl.DataFrame:
    files = write_sample(folder, **({"records": records} if records else {}))
    crosswalks = load_crosswalks(PROJECT_ROOT / "crosswalks")
    frames = [
        harmonize(crosswalks[n], read_delivery(crosswalks[n], p), b"k" * 32).frame
        for n, p in files.items()
    ]
    frame = pl.concat(frames, how="diagonal_relaxed")
    keys = np.random.default_rng(1).integers(0, 1 << 32, frame.height)
    return frame.with_columns(pl.Series("cell_record_key", keys))


def blank_views(html: Path, limit: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(html.resolve().as_uri())
        page.wait_for_function("window.dashboardReady === true", timeout=60_000)
        years = page.eval_on_selector_all("#year-from option", "os => os.map(o => o.value)")
        regions = page.eval_on_selector_all("#region option", "os => os.map(o => o.value)")
        genders = ["All"]
        if page.locator("#f-gender").count():
            genders += ["Female", "Male"]
        views = [(y, r, g) for g in genders for y in years for r in regions][:limit]
        blank = charts_blank = 0
        for year, region, gender in views:
            page.select_option("#year-from", year)
            page.select_option("#year-to", year)
            page.select_option("#region", region)
            if page.locator("#f-gender").count():
                page.select_option("#f-gender", gender)
            n = page.evaluate(BLANK, list(CHARTS))
            blank += n > 0
            charts_blank += n
        browser.close()
    return {
        "views": len(views),
        "views_with_a_blank_chart": blank,
        "blank_view_share": blank / len(views) if views else 0.0,
        "blank_charts": charts_blank,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--views", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        frame = victims(args.records, Path(tmp) / "landing")
        people(frame)  # warm: country names, the standard
        results = {"records": frame.height, "methods": {}}
        for method, params in (("suppression", None), ("cell_key", CellKeyParams())):
            times = []
            for _ in range(2):
                start, cpu = time.perf_counter(), time.process_time()
                tables, figures = compute_with_figures(frame, 11, params)
                times.append((time.perf_counter() - start, time.process_time() - cpu))
            html = render_dashboard(tables, Path(tmp) / f"{method}.html")
            results["methods"][method] = figures | {
                "aggregates_wall_s": min(t[0] for t in times),
                "aggregates_cpu_s": min(t[1] for t in times),
                "dashboard_bytes": html.stat().st_size,
                "dashboard": blank_views(html, args.views),
            }
    out = PROJECT_ROOT / "bench" / "results" / f"{date.today()}-statistics-methods-{frame.height}"
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    lines = [
        f"# Statistics: cell key against suppression ({frame.height:,} records)",
        "",
        "| figure | suppression | cell key |",
        "|---|---|---|",
    ]
    s, c = results["methods"]["suppression"], results["methods"]["cell_key"]

    def row(label: str, get) -> None:
        lines.append(f"| {label} | {get(s)} | {get(c)} |")

    row("cells withheld", lambda m: f"{m['withheld_share']:.1%}")
    for band in ("1-10", "11-99", "100+"):
        row(
            f"mean abs / rel error, true {band}",
            lambda m, b=band: (
                "withheld"
                if m["error_by_band"][b]["mean_abs_error"] is None
                else f"{m['error_by_band'][b]['mean_abs_error']:.2f} / "
                f"{m['error_by_band'][b]['mean_rel_error']:.1%}"
            ),
        )
    row(
        "dashboard views with a blank chart",
        lambda m: (
            f"{m['dashboard']['views_with_a_blank_chart']} of {m['dashboard']['views']} "
            f"({m['dashboard']['blank_view_share']:.1%})"
        ),
    )
    row(
        "statistics/aggregates (warm, best of 2)",
        lambda m: f"{m['aggregates_wall_s']:.2f} s ({m['aggregates_cpu_s']:.2f} s CPU)",
    )
    row("dashboard.html", lambda m: f"{m['dashboard_bytes'] / 1e6:.1f} MB")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The statistics dashboard: one self-contained, interactive HTML file.

Built only from the protected aggregate tables (never from records). Everything is
inlined: the tables as compact JSON, the world outlines (see `worldmap.py`) and the
page's own script (`dashboard.js`: plain SVG charts, no library), so the file works
offline, makes no network request (its Content-Security-Policy forbids any) and loads
fast. Every mark has a tooltip on hover and on keyboard focus, and every chart a
"Show the numbers" table.

What the page shows for a filter is a published count or a sum of published counts:
the rows for all years when the range covers every year or one year, else the yearly
rows of the range. With the cell-key method the drill-down filters (country and region
of exploitation, citizenship, gender, age band, type of exploitation; up to two besides
the years) read `dashboard_cells`, where every combination is a perturbed cell of its
own; a sum over several years says so, with its error bound (years x the ptable's
maximum deviation). With suppression, a suppressed count is never estimated; where a
sum leaves one out, the hover says so ("at least ...").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from ctdc_assets.regions import country_names, un_regions
from ctdc_assets.statistics.worldmap import HEIGHT, WIDTH, country_shapes

ALL = "All"
GUIDE = "about_tables"
PTABLE = "perturbation_table"
_HERE = Path(__file__).parent


def encode_tables(tables: Mapping[str, pl.DataFrame]) -> dict[str, object]:
    """Dimension values as small dictionaries + indexes; counts with -1 for suppressed."""
    guide = tables.get(GUIDE)
    if guide is None:
        raise ValueError(f"{GUIDE} is missing: the dashboard needs the tables' structure")
    out: dict[str, object] = {}
    names: dict[str, str] = {}
    for row in guide.iter_rows(named=True):
        table = tables[row["table"]]
        dims = [d for d in row["dimensions"].split(",") if d]
        encoded: dict[str, object] = {"dims": dims, "dict": {}, "idx": {}}
        for dim in dims:
            values = table[dim].cast(pl.String)
            levels = sorted(values.unique().to_list())
            lookup = {v: i for i, v in enumerate(levels)}
            encoded["dict"][dim] = levels  # type: ignore[index]
            encoded["idx"][dim] = [lookup[v] for v in values.to_list()]  # type: ignore[index]
            if f"{dim}_name" in table.columns:
                pairs = table.select(dim, f"{dim}_name").unique(maintain_order=True).iter_rows()
                names.update({code: name for code, name in pairs if code != ALL})
        encoded["n"] = table["count"].fill_null(-1).to_list()
        encoded["title"] = row["title"]
        encoded["multi"] = row["multi_response"]
        out[row["table"]] = encoded
    threshold = int(guide["threshold"].min())  # type: ignore[arg-type]
    method = "suppression"
    if "protection" in guide.columns and set(guide["protection"]) == {"cell_key"}:
        method = "cell_key"
    perturbation = None
    if (ptable := tables.get(PTABLE)) is not None:
        perturbation = int(ptable["perturbation"].abs().max())  # type: ignore[arg-type]
    return {
        "tables": out,
        "names": names,
        "threshold": threshold,
        "method": method,
        "maxDeviation": perturbation,
    }


def render_dashboard(tables: Mapping[str, pl.DataFrame], out_path: Path) -> Path:
    """Write the dashboard HTML to out_path (parents created) and return the path."""
    data = encode_tables(tables)
    shapes = country_shapes()
    data["map"] = {"shapes": shapes, "width": WIDTH, "height": HEIGHT}
    known = country_names()
    data["names"] = {code: known[code] for code in shapes if code in known} | data["names"]
    data["regionOf"] = {code: region for code, (_, region) in un_regions().items()}
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    payload = payload.replace("</", "<\\/")  # never closes the script element early
    template = (_HERE / "dashboard_template.html").read_text("utf-8")
    script = (_HERE / "dashboard.js").read_text("utf-8")
    head, rest = template.split("/*DATA*/")
    middle, tail = rest.split("/*SCRIPT*/")
    html = head + payload + middle + script.replace("</script", "<\\/script") + tail
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out_path)
    return out_path


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def preview_image(html_path: Path, png_path: Path, width: int = 1400) -> Path | None:
    """A PNG of the dashboard's first screen, for the asset's metadata; None when
    Playwright (a dev dependency) or Debian's chromium is not there. Runs in its own
    thread, so it works even where another Playwright session is open."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None

    def shoot() -> Path:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
            )
            try:
                page = browser.new_page(viewport={"width": width, "height": 1100})
                page.goto(html_path.resolve().as_uri())
                page.wait_for_function("window.dashboardReady === true", timeout=30_000)
                page.screenshot(path=str(png_path))
            finally:
                browser.close()
        return png_path

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(shoot).result()

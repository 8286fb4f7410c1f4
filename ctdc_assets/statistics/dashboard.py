"""The statistics dashboard: one self-contained, interactive HTML file.

Built only from the protected aggregate tables (never from records). Everything is
inlined: the tables as compact JSON, the world outlines (see `worldmap.py`) and the
page's own script (`dashboard.js`: plain SVG charts, no library), so the file works
offline, makes no network request (its Content-Security-Policy forbids any) and loads
fast. Every mark has a tooltip on hover and on keyboard focus, and every chart a
"Show the numbers" table.

What the page shows for a filter (year range, UN region of exploitation) is always a sum
of published counts: the rows for all years when the range covers every year, else the
yearly rows of the range. A suppressed count is never estimated; where a sum leaves one
out, the hover says so ("at least ...").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from ctdc_assets.statistics.worldmap import HEIGHT, WIDTH, country_shapes

ALL = "All"
GUIDE = "about_tables"
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
                pairs = table.select(dim, f"{dim}_name").unique().iter_rows()
                names.update({code: name for code, name in pairs if code != ALL})
        encoded["n"] = table["count"].fill_null(-1).to_list()
        encoded["title"] = row["title"]
        encoded["multi"] = row["multi_response"]
        out[row["table"]] = encoded
    threshold = int(guide["threshold"].min())  # type: ignore[arg-type]
    return {"tables": out, "names": names, "threshold": threshold}


def render_dashboard(tables: Mapping[str, pl.DataFrame], out_path: Path) -> Path:
    """Write the dashboard HTML to out_path (parents created) and return the path."""
    data = encode_tables(tables)
    data["map"] = {"shapes": country_shapes(), "width": WIDTH, "height": HEIGHT}
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

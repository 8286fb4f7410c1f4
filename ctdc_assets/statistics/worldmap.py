"""Country shapes for the dashboard's world view, as SVG paths drawn offline.

Outlines come from the `countryinfo` package (GeoJSON per country, public boundary data
at small scale), projected here with the Equal Earth projection (equal-area, so no
country looks bigger than it is), rounded to a tenth of a pixel. Small countries that
have no outline get a dot at their centroid. Nothing is fetched at view time.
"""

from __future__ import annotations

import math
from functools import cache

import countryinfo

WIDTH = 1000.0
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3) / 2
_XMAX = 2.7066297319215575  # Equal Earth x at longitude 180 on the equator
_YMAX = 1.3173627591574  # Equal Earth y at latitude 90
SCALE = WIDTH / (2 * _XMAX)
HEIGHT = round(2 * _YMAX * SCALE * 0.86, 1)  # Antarctica left out: crop the far south
EXCLUDED = {"AQ"}


def project(lon: float, lat: float) -> tuple[float, float]:
    """Equal Earth (Šavrič, Patterson, Jenny 2018), to SVG pixels."""
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(_M * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (_M * (_A1 + 3 * _A2 * t2 + t6 * (7 * _A3 + 9 * _A4 * t2)))
    y = theta * (_A1 + _A2 * t2 + t6 * (_A3 + _A4 * t2))
    return (x + _XMAX) * SCALE, (_YMAX - y) * SCALE


def _ring(points: list[list[float]]) -> str:
    out: list[str] = []
    last = None
    for lon, lat in points:
        x, y = project(lon, lat)
        here = (round(x, 1), round(y, 1))
        if here == last:
            continue
        out.append(f"{here[0]:g},{here[1]:g}")
        last = here
    return ("M" + "L".join(out) + "Z") if len(out) > 2 else ""


def _path(geometry: dict) -> str:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return "".join(_ring(ring) for polygon in polygons for ring in polygon)


@cache
def country_shapes() -> dict[str, dict[str, object]]:
    """ISO alpha-2 -> {"d": SVG path} or {"dot": [x, y]}."""
    shapes: dict[str, dict[str, object]] = {}
    for country in countryinfo.all_countries():
        try:
            code = country.iso()["alpha2"]
            geo = country.geo_json() or {}
            latlng = country.latlng() or []
        except Exception:  # an entry without ISO code or shape: nothing to draw
            continue
        if not code or code in EXCLUDED:
            continue
        d = "".join(_path(f.get("geometry") or {}) for f in geo.get("features", []))
        if d:
            shapes[code] = {"d": d}
        elif len(latlng) == 2:
            x, y = project(float(latlng[1]), float(latlng[0]))
            shapes[code] = {"dot": [round(x, 1), round(y, 1)]}
    return shapes

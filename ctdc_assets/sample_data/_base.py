"""Vectorized building blocks shared by the three delivery generators.

Everything draws from a `numpy.random.Generator` handed in by the caller, so a delivery
is a pure function of (records, seed). Strings are built with Polars expressions over
whole columns; the only Python loops run over vocabularies, never over rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import polars as pl

CANARY_PREFIX = "CANARY"
CHUNK_ROWS = 100_000  # rows generated (and held in memory) at a time

EPOCH = dt.date(1970, 1, 1)
DAYS_PER_YEAR = 365.2425


def rng_for(seed: int, contributor: int, chunk: int) -> np.random.Generator:
    """Independent stream per (seed, contributor, chunk): chunks can be made one by one."""
    return np.random.default_rng([seed, contributor, chunk])


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 (the integer form of a Polars Date)."""
    return (day - EPOCH).days


# ------------------------------------------------------------------ categorical draws


def normalised(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def draw(rng: np.random.Generator, options: Mapping[str, float], n: int) -> pl.Series:
    """n values drawn from {value: weight}; an empty-string value becomes null."""
    values = list(options)
    idx = rng.choice(len(values), size=n, p=normalised(list(options.values())))
    return lookup(values, idx)


def lookup(values: Sequence[str | None], idx: np.ndarray) -> pl.Series:
    """values[idx] as a String Series, without a Python loop over idx."""
    table = pl.Series([v if v != "" else None for v in values], dtype=pl.String)
    return table.gather(pl.Series(idx, dtype=pl.UInt32))


def draw_by_group(
    rng: np.random.Generator,
    groups: np.ndarray,
    options: Mapping[str, Mapping[str, float]],
) -> pl.Series:
    """One draw per row from the option table of the row's group (groups: array of keys)."""
    values = sorted({v for table in options.values() for v in table})
    idx = np.zeros(len(groups), dtype=np.int64)
    for group, table in options.items():
        rows = np.flatnonzero(groups == group)
        if rows.size:
            local = rng.choice(len(table), size=rows.size, p=normalised(list(table.values())))
            position = np.array([values.index(v) for v in table])
            idx[rows] = position[local]
    return lookup(values, idx)


def _chosen(
    rng: np.random.Generator,
    options: Mapping[str, float],
    filled: np.ndarray,
    boost: Mapping[str, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct option sets (as bit masks) and, per row, the index of its set."""
    names = list(options)
    n = len(filled)
    probs = np.broadcast_to(np.asarray(list(options.values())), (n, len(names))).copy()
    for name, p in (boost or {}).items():
        probs[:, names.index(name)] = p
    chosen = rng.random((n, len(names))) < probs
    empty = np.flatnonzero(filled & ~chosen.any(axis=1))
    if empty.size:
        pick = rng.choice(len(names), size=empty.size, p=normalised(list(options.values())))
        chosen[empty, pick] = True
    chosen &= filled[:, None]
    masks = chosen.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    return np.unique(masks, return_inverse=True)


def multi_select(
    rng: np.random.Generator,
    options: Mapping[str, float],
    filled: np.ndarray,
    separator: str,
    boost: Mapping[str, np.ndarray] | None = None,
) -> pl.Series:
    """A multi-select per row: each option included with its probability, joined.

    Rows where `filled` is false get null; filled rows get at least one option.
    `boost` maps an option to a per-row probability replacing its default.
    """
    names = list(options)
    masks, row_set = _chosen(rng, options, filled, boost)
    labels = [
        separator.join(name for j, name in enumerate(names) if mask >> j & 1) or None
        for mask in masks.tolist()
    ]
    return pl.Series(labels, dtype=pl.String).gather(pl.Series(row_set, dtype=pl.UInt32))


def list_select(
    rng: np.random.Generator,
    options: Mapping[str, float],
    filled: np.ndarray,
) -> pl.Series:
    """Like `multi_select` but as a List[String] column (empty list when not filled)."""
    names = list(options)
    masks, row_set = _chosen(rng, options, filled, None)
    labels = [[name for j, name in enumerate(names) if mask >> j & 1] for mask in masks.tolist()]
    table = pl.Series(labels, dtype=pl.List(pl.String))
    return table.gather(pl.Series(row_set, dtype=pl.UInt32))


# ------------------------------------------------------------------ random text


def digits(rng: np.random.Generator, n: int, k: int) -> pl.Series:
    """n random strings of k decimal digits (k <= 18)."""
    return pl.Series(rng.integers(0, 10**k, size=n)).cast(pl.String).str.zfill(k)


def canaries(rng: np.random.Generator, n: int) -> pl.Series:
    """n distinct-looking canary tokens `CANARY-<12 hex>` (collisions are harmless)."""
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    raw = alphabet[rng.integers(0, 16, size=(n, 12))].astype(np.uint8)
    hexes = pl.Series(raw.view("S12").ravel()).cast(pl.String)
    return CANARY_PREFIX + "-" + hexes


class RowPicker:
    """Disjoint random row sets of one column, so planted dirt never overwrites other dirt.

    The columns of a frame share one random permutation of its rows (making one per
    column is slow at 100,000 rows), each column starting at its own random offset.
    """

    def __init__(self, order: np.ndarray, start: int) -> None:
        self._order = order
        self._start = start
        self._next = 0

    @classmethod
    def for_columns(
        cls, rng: np.random.Generator, n: int, names: Sequence[str]
    ) -> dict[str, RowPicker]:
        order = rng.permutation(n)
        starts = rng.integers(0, max(n, 1), size=len(names))
        return {name: cls(order, int(start)) for name, start in zip(names, starts, strict=True)}

    def take(self, rate: float, minimum: int = 1) -> np.ndarray:
        """About rate*n rows, at least `minimum` (if the column still has that many)."""
        n = len(self._order)
        count = min(max(minimum, round(rate * n)), n - self._next)
        positions = (self._start + self._next + np.arange(count)) % max(n, 1)
        self._next += count
        return np.sort(self._order[positions])


def plant_canaries(
    rng: np.random.Generator,
    cols: dict[str, pl.Series],
    identifiers: Sequence[str],
    pickers: Mapping[str, RowPicker],
    *,
    email: str | None = None,
    free_text: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """A canary token in about 0.2 % of the rows (at least 3) of each identifier column.

    The token is the whole value, except in the `email` column (`<token>@example.org`)
    and in free text: `free_text[name] = (text when blank, words before the token)`,
    the token appended to the row's text as `<text><words><token>.`.
    """
    for name in identifiers:
        rows = pickers[name].take(0.002, 3)
        tokens = canaries(rng, rows.size)
        if name == email:
            tokens = tokens + "@example.org"
        elif free_text and name in free_text:
            blank, words = free_text[name]
            tokens = cols[name].gather(rows).fill_null(blank) + words + tokens + "."
        cols[name] = plant_series(cols[name], rows, tokens)


def plant(series: pl.Series, rows: np.ndarray, values: Sequence[str | None]) -> pl.Series:
    """Put `values` (cycled, so every spelling shows up) into `rows`."""
    if rows.size == 0:
        return series
    table = pl.Series(list(values), dtype=pl.String)  # keeps "" (unlike `lookup`)
    cycled = table.gather(pl.Series(np.arange(rows.size) % len(values), dtype=pl.UInt32))
    return series.scatter(rows, cycled.cast(series.dtype))


def plant_series(series: pl.Series, rows: np.ndarray, values: pl.Series) -> pl.Series:
    """values[i] into row rows[i]; works for any dtype (Series.scatter does not do lists)."""
    if rows.size == 0:
        return series
    if not series.dtype.is_nested():
        return series.clone().scatter(rows, values.head(rows.size).cast(series.dtype))
    position = np.zeros(len(series), dtype=np.uint32)
    position[rows] = np.arange(rows.size)
    chosen = np.zeros(len(series), dtype=bool)
    chosen[rows] = True
    spread = values.head(rows.size).gather(pl.Series(position))
    return (
        pl.select(pl.when(pl.Series(chosen)).then(spread).otherwise(series))
        .to_series()
        .alias(series.name)
    )


def case_variants(series: pl.Series, rows: np.ndarray) -> pl.Series:
    """Lower-case, upper-case, leading-space and trailing-space variants, in turn."""
    rows = rows[series.gather(rows).is_not_null().to_numpy()]
    if rows.size == 0:
        return series
    kind = pl.Series(np.arange(rows.size) % 4)
    original = series.gather(rows)
    changed = (
        pl.DataFrame({"v": original, "k": kind})
        .select(
            pl.when(pl.col("k") == 0)
            .then(pl.col("v").str.to_lowercase())
            .when(pl.col("k") == 1)
            .then(pl.col("v").str.to_uppercase())
            .when(pl.col("k") == 2)
            .then(" " + pl.col("v"))
            .otherwise(pl.col("v") + " ")
        )
        .to_series()
    )
    return series.scatter(rows, changed)


def blank_out(series: pl.Series, keep: np.ndarray) -> pl.Series:
    """A copy with null where keep is false."""
    return pl.select(pl.when(pl.Series(keep)).then(series)).to_series().alias(series.name)


def numbered_by_year(prefix: str, years: np.ndarray, counters: dict[int, int]) -> pl.Series:
    """`<prefix>-<year>-<6 digits>`, numbered per year across chunks; updates `counters`."""
    offset = np.zeros(len(years), dtype=np.int64)
    for year, count in counters.items():
        offset[years == year] = count
    frame = pl.DataFrame({"year": years, "offset": offset})
    sequence = pl.int_range(pl.len()).over("year") + 1 + pl.col("offset")
    numbered = frame.select(
        pl.format(f"{prefix}-{{}}-{{}}", pl.col("year"), sequence.cast(pl.String).str.zfill(6))
    ).to_series()
    for year, count in zip(*np.unique(years, return_counts=True), strict=True):
        counters[int(year)] = counters.get(int(year), 0) + int(count)
    return numbered


# ------------------------------------------------------------------ dates and ages


def year_start_days(years: np.ndarray) -> np.ndarray:
    return (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def days_in_years(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """A uniformly random day (days since epoch) within each given year."""
    return year_start_days(years) + rng.integers(0, 365, size=len(years))


def later(rng: np.random.Generator, start: np.ndarray, max_gap: int, end: int) -> np.ndarray:
    """A day uniformly in [start, min(start + max_gap, end)] (no pile-up at `end`)."""
    room = np.clip(np.minimum(max_gap, end - start), 0, None) + 1
    return start + np.floor(rng.random(len(start)) * room).astype(np.int64)


def draw_years(rng: np.random.Generator, weights: Mapping[int, float], n: int) -> np.ndarray:
    years = np.array(list(weights))
    return years[rng.choice(len(years), size=n, p=normalised(list(weights.values())))]


def draw_ages_days(rng: np.random.Generator, bands: Sequence[tuple[int, int]], weights, n: int):
    """Ages in days: a band by weight, then uniform within the band's years."""
    band = rng.choice(len(bands), size=n, p=normalised(weights))
    low = np.array([b[0] for b in bands])[band]
    high = np.array([b[1] for b in bands])[band] + 1
    years = low + rng.random(n) * (high - low)
    return np.maximum(np.floor(years * DAYS_PER_YEAR).astype(np.int64), 60)


def age_in_years(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Completed years between two day numbers (calendar-exact)."""
    b = birth.astype("datetime64[D]")
    o = on.astype("datetime64[D]")
    by, oy = b.astype("datetime64[Y]"), o.astype("datetime64[Y]")
    years = oy.astype(np.int64) - by.astype(np.int64)
    b_md = b - by.astype("datetime64[D]")
    o_md = o - oy.astype("datetime64[D]")
    # day-of-year comparison is off by one around 29 Feb: good enough for sample data
    return years - (o_md < b_md).astype(np.int64)


_FIRST_DAY = day_number(dt.date(1890, 1, 1))
_LAST_DAY = day_number(dt.date(2040, 12, 31))


@cache
def _date_texts(fmt: str) -> pl.Series:
    """Every day from 1890 to 2040 in `fmt`: formatting becomes a gather."""
    days = pl.Series(np.arange(_FIRST_DAY, _LAST_DAY + 1, dtype=np.int32)).cast(pl.Date)
    return days.dt.strftime(fmt)


def format_days(days: np.ndarray, fmt: str, known: np.ndarray | None = None) -> pl.Series:
    """Day numbers as text in `fmt` (strftime); null where not known."""
    index = np.clip(days, _FIRST_DAY, _LAST_DAY) - _FIRST_DAY
    series = _date_texts(fmt).gather(pl.Series(index, dtype=pl.UInt32))
    return series if known is None else blank_out(series, known)


# ------------------------------------------------------------------ people

FEMALE_GIVEN = [
    "Olena", "Natalia", "Iryna", "Maria", "Ana", "Elena", "Svetlana", "Tatiana", "Oksana",
    "Ioana", "Aigerim", "Dilnoza", "Gulnara", "Maricel", "Rowena", "Jocelyn", "Siti", "Dewi",
    "Sreymom", "Sokha", "Thida", "Aye", "Hnin", "Chiamaka", "Blessing", "Joy", "Fatima",
    "Amina", "Rosa", "Carmen", "Lucia", "Guadalupe", "Jessica", "Ashley", "Brittany",
    "Destiny", "Lan", "Mai", "Linh", "Nok", "Malee", "Anjali", "Sunita", "Nasrin", "Farida",
    "Viktoria", "Mirela", "Esther", "Grace", "Yesenia",
]  # fmt: skip
MALE_GIVEN = [
    "Andriy", "Ivan", "Sergiu", "Vasile", "Bakyt", "Rustam", "Jose", "Juan", "Carlos", "Mark",
    "Rolando", "Budi", "Agus", "Sokun", "Vannak", "Min", "Kyaw", "Zaw", "Emeka", "Chinedu",
    "Tunde", "Mohammed", "Ahmed", "Rahim", "Ram", "Bishnu", "Hung", "Tuan", "Minh", "Somchai",
    "Anan", "Michael", "James", "Tyler", "Luis", "Dmytro", "Oleg", "Nodir", "Kwame", "Samuel",
]  # fmt: skip
FAMILY = [
    "Kovalenko", "Shevchenko", "Bondarenko", "Rusu", "Ceban", "Popescu", "Ionescu", "Ivanova",
    "Petrova", "Smirnova", "Nurlanova", "Abdullaeva", "Karimov", "Santos", "Reyes", "Cruz",
    "Bautista", "Garcia", "Mendoza", "Santoso", "Wijaya", "Lestari", "Sok", "Chan", "Chea",
    "Kim", "Win", "Aung", "Htun", "Okafor", "Adeyemi", "Mensah", "Bello", "Hossain", "Rahman",
    "Akter", "Shrestha", "Tamang", "Gurung", "Nguyen", "Tran", "Le", "Pham", "Saetang",
    "Srisuk", "Phommachanh", "Hernandez", "Lopez", "Martinez", "Rodriguez", "Smith", "Johnson",
    "Williams", "Brown", "Davis", "Miller", "Wilson", "Moore", "Taylor", "Morales", "Flores",
    "Tkachenko", "Moldovan", "Tursunov", "Omondi", "Mwangi", "Diallo", "Traore", "Silva",
]  # fmt: skip
CITIES = [
    "Kyiv", "Chisinau", "Manila", "Jakarta", "Phnom Penh", "Yangon", "Minsk", "Bucharest",
    "Tashkent", "Bishkek", "Lagos", "Bangkok", "Kuala Lumpur", "Dubai", "Moscow", "Istanbul",
    "Warsaw", "Almaty", "Doha", "Cebu", "Odesa", "Balti", "Osh", "Benin City", "Dhaka",
    "Kathmandu", "Hanoi", "Vientiane", "Port of Spain", "Johannesburg",
]  # fmt: skip
STREETS = [
    "Shevchenko St", "Stefan cel Mare Blvd", "Rizal Ave", "Jalan Merdeka", "Norodom Blvd",
    "Pyay Rd", "Independence Ave", "Victoriei Blvd", "Amir Temur St", "Chui Ave", "Broad St",
    "Sukhumvit Rd", "Market St", "Lenin St", "Station Rd", "Main St", "Church St",
]  # fmt: skip


def given_names(rng: np.random.Generator, female: np.ndarray) -> pl.Series:
    f = rng.integers(0, len(FEMALE_GIVEN), size=len(female))
    m = rng.integers(0, len(MALE_GIVEN), size=len(female))
    return pl.select(
        pl.when(pl.Series(female)).then(lookup(FEMALE_GIVEN, f)).otherwise(lookup(MALE_GIVEN, m))
    ).to_series()


def family_names(rng: np.random.Generator, n: int) -> pl.Series:
    return lookup(FAMILY, rng.integers(0, len(FAMILY), size=n))


def phones(rng: np.random.Generator, n: int, country_codes: Sequence[str]) -> pl.Series:
    """International numbers like `+380 67 123 4567`."""
    cc = lookup([f"+{c}" for c in country_codes], rng.integers(0, len(country_codes), size=n))
    return pl.select(
        pl.concat_str([cc, digits(rng, n, 2), digits(rng, n, 3), digits(rng, n, 4)], separator=" ")
    ).to_series()


def us_phones(rng: np.random.Generator, n: int) -> pl.Series:
    """US numbers like `(213) 555-0142` (first digits 2-9 as in real area codes)."""
    area = pl.Series(rng.integers(201, 990, size=n)).cast(pl.String)
    exchange = pl.Series(rng.integers(200, 999, size=n)).cast(pl.String)
    return pl.select(
        pl.concat_str([pl.lit("("), area, pl.lit(") "), exchange, pl.lit("-"), digits(rng, n, 4)])
    ).to_series()


def pick(rng: np.random.Generator, values: Sequence[str], n: int) -> pl.Series:
    return lookup(values, rng.integers(0, len(values), size=n))


def text(*parts: str | pl.Series | pl.Expr) -> pl.Expr:
    """Concatenate literal strings and columns (null if any column is null)."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def choose_template(rng: np.random.Generator, templates: Sequence[pl.Expr], n: int) -> pl.Expr:
    """One of several text templates (Polars expressions) per row."""
    which = pl.Series(rng.integers(0, len(templates), size=n))
    expr = pl.when(pl.lit(which) == 0).then(templates[0])
    for i, template in enumerate(templates[1:], start=1):
        expr = expr.when(pl.lit(which) == i).then(template)
    return expr

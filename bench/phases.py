"""The phases run in a child process: generating the deliveries, and the DuckDB floor."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import time
from pathlib import Path

from bench.common import ROOT


def phase_generate(args: argparse.Namespace) -> None:
    from ctdc_assets.sample_data import CONTRIBUTORS, write_sample

    contributors = tuple(args.contributors.split(",")) if args.contributors else CONTRIBUTORS
    written = write_sample(
        Path(args.landing),
        records=args.records,
        seed=args.seed,
        delivery_date=dt.date.fromisoformat(args.delivery_date),
        contributors=contributors,
    )
    for name, path in written.items():
        print(f"{name}: {path} ({path.stat().st_size} bytes)")


def phase_floor(args: argparse.Namespace) -> None:
    """DuckDB alone: every delivery into one merged table, one plain query.

    The table goes into an encrypted DuckDB file, like the warehouse (same extension
    folder, same `httpfs` for encryption); no Dagster, no Polars, no checks.
    """
    import importlib.util

    import duckdb
    import yaml

    started = time.perf_counter()
    landing = Path(args.landing)
    crosswalks = {
        p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "crosswalks").glob("*.yaml")
    }
    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    config: dict[str, str | bool] = {"autoinstall_known_extensions": False}
    spec = importlib.util.find_spec("duckdb_ext")
    if spec and spec.submodule_search_locations:
        config["extension_directory"] = str(
            Path(next(iter(spec.submodule_search_locations))) / "extensions"
        )
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    con.execute("LOAD httpfs")
    con.execute(f"ATTACH '{db}' AS floor (ENCRYPTION_KEY '{secrets.token_hex(32)}')")
    con.execute("USE floor")
    timings: dict[str, float] = {}
    parts: list[str] = []
    xlsx_reader = None
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            continue
        path = files[-1]
        name = folder.name
        quoted = str(path).replace("'", "''")
        if path.suffix == ".csv":
            parts.append(
                f"SELECT '{name}' AS contributor, * FROM read_csv('{quoted}', all_varchar=true)"
            )
        elif path.suffix == ".jsonl":
            parts.append(
                f"SELECT '{name}' AS contributor, * FROM "
                f"read_json('{quoted}', format='newline_delimited')"
            )
        elif path.suffix == ".xlsx":
            pattern = (crosswalks.get(name, {}).get("read") or {}).get("sheet") or "*"
            relation, xlsx_reader = _floor_xlsx(con, path, pattern, name)
            parts.append(f"SELECT '{name}' AS contributor, * FROM {relation}")
    timings["prepare_s"] = time.perf_counter() - started
    query = "CREATE TABLE merged AS " + " UNION ALL BY NAME ".join(parts)
    t0 = time.perf_counter()
    con.execute(query)
    con.execute("CHECKPOINT")
    timings["query_s"] = time.perf_counter() - t0
    rows, columns = con.execute(
        "SELECT (SELECT count(*) FROM merged), (SELECT count(*) FROM (DESCRIBE merged))"
    ).fetchone()
    con.close()
    timings["total_s"] = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "columns": columns,
                "xlsx_reader": xlsx_reader,
                **{k: round(v, 3) for k, v in timings.items()},
            }
        )
    )


def _floor_xlsx(con, path: Path, pattern: str, name: str) -> tuple[str, str]:
    """The spreadsheet as a relation: DuckDB's `excel` extension if it loads, else fastexcel."""
    import fnmatch

    import fastexcel

    sheets = [s for s in fastexcel.read_excel(path).sheet_names if fnmatch.fnmatchcase(s, pattern)]
    try:
        con.execute("LOAD excel")
    except Exception:
        loaded = False
    else:
        loaded = True
    quoted = str(path).replace("'", "''")
    if loaded:
        union = " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_xlsx('{quoted}', sheet='{s}', all_varchar=true)" for s in sheets
        )
        con.execute(f"CREATE TEMP VIEW _{name} AS {union}")
        return f"_{name}", "duckdb excel extension (read_xlsx)"
    # No excel extension offline: fastexcel (Rust, calamine) hands Arrow to DuckDB.
    reader = fastexcel.read_excel(path)
    tables = [reader.load_sheet_by_name(s, dtypes="string").to_arrow() for s in sheets]
    import pyarrow as pa

    con.register(f"_{name}", pa.Table.from_batches(tables))
    return f"_{name}", "fastexcel (calamine) to Arrow; DuckDB excel extension not installed"

"""The release's codebook and statistics, checked by `ctdc verify` against the standard
and the (signed) manifest.

- Codebook: every published column's codes and labels (and description) in
  `codebook.md` are the standard's, as the codebook generator derives them from the
  standard, the manifest's policy and the values that occur in `victims.csv` (without
  the crosswalks, which only say who supplies a column), and each code's count of
  records is the CSV's; `codebook.html` is the rendering of that Markdown; the field
  enums of `datapackage.json` are the same codes.
- Statistics: exactly the tables the manifest lists; every count a whole number; the
  statistics' own audit (`audit_tables`, from the published tables alone); and each
  table counting all victims adds up to the manifest's records before anonymization,
  within less than the threshold (exact for suppression; a perturbation method that
  moves a count by the threshold or more would not protect small counts either).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.release.bundle import RECORDS_CSV
from ctdc_assets.release.codebook import ColumnDoc, codebook_html, column_docs, missing_values
from ctdc_assets.release.frequencies import value_frequencies
from ctdc_assets.standard import Standard
from ctdc_assets.statistics.aggregates import PTABLE
from ctdc_assets.statistics.audit import audit_tables
from ctdc_assets.statistics.audit_recount import ptable_findings

CODEBOOK = "codebook.md"
STATISTICS = "statistics"
SHOWN = 20  # statistics findings listed at most


def codebook_problems(
    folder: Path, policy: ReleasePolicy, release_id: str, standard: Standard
) -> list[str]:
    try:
        text = (folder / CODEBOOK).read_text(encoding="utf-8")
        con = duckdb.connect()
        try:
            csv = str(folder / RECORDS_CSV).replace("'", "''")
            frequencies = value_frequencies(
                con, f"read_csv('{csv}', all_varchar = true, header = true)"
            )
        finally:
            con.close()
    except (OSError, duckdb.Error) as error:
        return [f"{CODEBOOK} cannot be checked: {error}"]
    docs = column_docs(policy, {}, standard, frequencies)
    sections = _sections(text)
    problems = [
        f"{CODEBOOK}: describes {name}, not a published column"
        for name in sections
        if name not in {d.name for d in docs}
    ]
    for doc in docs:
        if doc.name not in sections:
            problems.append(f"{CODEBOOK}: {doc.name} is not described")
            continue
        problems += _section_problems(doc, sections[doc.name])
    html_file = folder / "codebook.html"
    if not html_file.is_file() or html_file.read_text(encoding="utf-8") != codebook_html(
        text, f"Codebook {release_id}"
    ):
        problems.append("codebook.html is not the rendering of codebook.md")
    return problems + _datapackage_problems(folder, docs, missing_values(policy, standard))


def _sections(text: str) -> dict[str, list[str]]:
    """Lines of the codebook by column (`### `name`` headings)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("### `") and line.endswith("`"):
            current = sections.setdefault(line[5:-1], [])
        elif line.startswith("#"):
            current = None
        elif current is not None:
            current.append(line)
    return sections


def _section_problems(doc: ColumnDoc, lines: list[str]) -> list[str]:
    where = f"{CODEBOOK}: {doc.name}"
    problems = []
    if doc.description not in lines:
        problems.append(f"{where}: the description is not the standard's")
    if doc.value_note and f"- values: {doc.value_note}" not in lines:
        problems.append(f"{where}: the note on its values is not the standard's")
    found: dict[str, tuple[str, str]] = {}  # code -> (label, records)
    for line in lines:
        if line.startswith("| `") and line.endswith(" |"):
            code, _, rest = line[3:-2].partition("` | ")
            label = rest.rpartition(" | ")[0]  # the share follows the count
            label, _, records = label.rpartition(" | ")
            found[code] = (label, records)
    for code, label in doc.values.items():
        if code not in found:
            problems.append(f"{where}: the code `{code}` is missing")
        elif found[code][0] != label:
            problems.append(f"{where}: the label of `{code}` is not the standard's")
        elif found[code][1] != str(doc.counts.get(code, 0)):
            problems.append(
                f"{where}: `{code}` is said to hold {found[code][1]} records, "
                f"{RECORDS_CSV} has {doc.counts.get(code, 0)}"
            )
    problems += [
        f"{where}: `{c}` is not a code of the standard nor a value of {RECORDS_CSV}"
        for c in found
        if c not in doc.values
    ]
    return problems


def _datapackage_problems(folder: Path, docs: list[ColumnDoc], missing: list[str]) -> list[str]:
    try:
        package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
        fields = {
            f["name"]: f
            for r in package["resources"]
            if r["path"] == "victims.csv"
            for f in r["schema"]["fields"]
        }
    except (OSError, ValueError, KeyError, TypeError):
        return []  # reported by the records' checks
    problems = []
    for doc in docs:
        enum = fields.get(doc.name, {}).get("constraints", {}).get("enum")
        if doc.closed:
            codes = [c for c in doc.values if c not in missing]
            if doc.frictionless_type == "integer":
                codes = [int(c) for c in codes]
            if enum != codes:
                problems.append(f"datapackage.json: {doc.name}: its codes are not the standard's")
    return problems


def statistics_problems(folder: Path, manifest: dict) -> list[str]:
    listed = {n for n in manifest.get("files", {}) if n.startswith(f"{STATISTICS}/")}
    present = {f"{STATISTICS}/{p.name}" for p in (folder / STATISTICS).glob("*.csv")}
    problems = [
        f"{n}: statistics table listed in the manifest but missing"
        for n in sorted(listed - present)
    ]
    problems += [
        f"{n}: statistics table not listed in the manifest" for n in sorted(present - listed)
    ]
    tables: dict[str, pl.DataFrame] = {}
    for name in sorted(present):
        try:
            frame = pl.read_csv(folder / name, infer_schema=False)
        except (OSError, pl.exceptions.PolarsError) as error:
            problems.append(f"{name} cannot be read: {error}")
            continue
        tables[Path(name).stem], wrong = _typed(frame)
        problems += [f"{name}: {c} holds values that are not whole numbers" for c in wrong]
    threshold = int(manifest.get("statistics_threshold") or manifest["policy"]["k"])
    findings = audit_tables(tables, threshold)
    problems += [f"{STATISTICS}: {f.table}: {f.reason} ({f.cell})" for f in findings[:SHOWN]]
    if len(findings) > SHOWN:
        problems.append(f"{STATISTICS}: {len(findings) - SHOWN} more findings of the audit")
    problems += _method_problems(tables, manifest, threshold)
    total = manifest.get("counts", {}).get("records_before_anonymization")
    return problems + _total_problems(tables, total, threshold)


def _method_problems(tables: dict[str, pl.DataFrame], manifest: dict, threshold: int) -> list[str]:
    """The tables say the method the manifest says, and a ptable publishes no small count."""
    method = (manifest.get("statistics") or {}).get("method", "suppression")
    guide = tables.get("about_tables")
    if guide is not None and "protection" in guide.columns:
        stated = set(guide["protection"].to_list())
        if stated != {method}:
            return [f"{STATISTICS}: about_tables says {sorted(stated)}, the manifest {method}"]
    if method != "cell_key":
        return []
    if PTABLE not in tables:
        return [f"{STATISTICS}: {PTABLE}.csv missing (the manifest says cell_key)"]
    return [
        f"{STATISTICS}: {f.table}: {f.reason} ({f.cell})"
        for f in ptable_findings(tables[PTABLE], threshold - 1)
    ]


def _typed(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Columns read as text, typed where every value is one: whole numbers, numbers,
    true/false. Also the count columns that are not whole numbers (cast anyway)."""
    columns, wrong = [], []
    for name in frame.columns:
        column = frame[name]
        for dtype in (pl.Int64, pl.Float64):
            cast = column.cast(dtype, strict=False)
            if cast.null_count() == column.null_count():
                column = cast
                break
        if column.dtype == pl.String and set(column.drop_nulls().unique()) <= {"true", "false"}:
            column = column == "true"
        if name in ("count", "total") and column.dtype != pl.Int64:
            wrong.append(name)
            column = column.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
        columns.append(column)
    return pl.DataFrame(columns), wrong


def _total_problems(
    tables: dict[str, pl.DataFrame], total: int | None, threshold: int
) -> list[str]:
    """Tables counting all victims against the manifest (one line for all that differ)."""
    guide = tables.get("about_tables")
    if guide is None or total is None or "people_counted" not in guide.columns:
        return []
    wrong: dict[str, int] = {}
    for row in guide.filter(pl.col("people_counted") == "all victims").iter_rows(named=True):
        table = tables.get(row["table"])
        dims = [d for d in (row["dimensions"] or "").split(",") if d]
        if table is None or not set(dims) <= set(table.columns) or "count" not in table.columns:
            continue
        everyone = table.filter(pl.all_horizontal(pl.col(d) == "All" for d in dims))["count"]
        counted = everyone.drop_nulls()
        if counted.len() and abs(int(counted[0]) - total) >= threshold:
            wrong[row["table"]] = int(counted[0])
    if not wrong:
        return []
    first, people = next(iter(wrong.items()))
    more = f" and {len(wrong) - 1} more tables" if len(wrong) > 1 else ""
    return [
        f"{STATISTICS}: {first}{more} count {people} people in all, but the manifest counts "
        f"{total} records before anonymization"
    ]

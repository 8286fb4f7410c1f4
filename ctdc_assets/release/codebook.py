"""The published codebook (Markdown, HTML) and Frictionless `datapackage.json`.

Both are generated from the standard, the release policy's hierarchies and the
crosswalks, so they can never disagree with what the release holds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl
from markdown_it import MarkdownIt

from ctdc_assets.anonymize.codebook import codebook_extension
from ctdc_assets.anonymize.hierarchies import Hierarchy
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.crosswalk import Crosswalk
from ctdc_assets.regions import country_name
from ctdc_assets.release.frequencies import Frequencies
from ctdc_assets.standard import Standard, load_standard

LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}


@dataclass
class ColumnDoc:
    """Everything the codebook says about one published column."""

    name: str
    type: str
    role: str
    description: str
    values: dict[str, str] = field(default_factory=dict)  # code -> label
    value_note: str = ""
    supplied_by: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # code -> records in the release

    @property
    def frictionless_type(self) -> str:
        return "integer" if self.type == "flag" else "string"

    @property
    def closed(self) -> bool:
        """Its codes are a fixed list (not country codes, years or list labels)."""
        return bool(self.values) and not self.value_note


def supplied_by(crosswalks: Mapping[str, Crosswalk]) -> dict[str, list[str]]:
    """Contributors whose crosswalk produces each variable (not just its default)."""
    out: dict[str, list[str]] = {}
    for contributor, crosswalk in sorted(crosswalks.items()):
        for variable in crosswalk.variables:
            out.setdefault(variable, []).append(contributor)
    return out


def column_docs(
    policy: ReleasePolicy,
    crosswalks: Mapping[str, Crosswalk],
    standard: Standard | None = None,
    frequencies: Frequencies | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> list[ColumnDoc]:
    """One entry per published column, in published order.

    `crosswalks` are those of the contributors in the release. With the release's
    `frequencies`, a column lists only the generalized codes that occur, every country
    code, year and list label that occurs, and how many records hold each.
    """
    standard = standard or load_standard()
    extension = codebook_extension(policy, standard=standard, hierarchies=hierarchies)
    producers = supplied_by(crosswalks)
    docs: dict[str, ColumnDoc] = {}
    for var in standard.variables:
        doc = ColumnDoc(
            name=var.name,
            type=var.type,
            role=var.role,
            description=var.description,
            supplied_by=producers.get(var.name, []),
        )
        if var.values:
            doc.values = {v.code: v.label for v in var.values}
        elif var.type == "flag":
            doc.values = {"1": "yes", "0": "no"}
        elif var.type == "country":
            doc.value_note = (
                f"ISO 3166-1 alpha-2 country code; {standard.unknown_country} = not known."
            )
        elif var.type == "year":
            low, high = var.valid_range or (0, 0)
            doc.value_note = f"A year from {low} to {high}."
        elif var.type == "list":
            labels = sorted(set(standard.list_labels(var.name).values()))
            doc.value_note = f"Labels joined by '{var.separator}': " + ", ".join(labels) + "."
        doc.values[standard.missing_code] = "missing: not recorded by the contributor"
        for value in extension.generalized_values.get(var.name, ()):
            doc.values[value.code] = (
                f"generalized ({value.level}): {value.label}; stands for {', '.join(value.covers)}"
            )
        if var.name in extension.quasi_identifiers:
            doc.values[extension.suppressed_value] = extension.suppressed_label
        docs[var.name] = doc
    for region in extension.region_columns:
        docs[region.name] = ColumnDoc(
            name=region.name,
            type="region",
            role="quasi_identifier",
            description=region.description,
            values={v.code: v.label for v in region.values},
        )
    ordered = [docs[name] for name in extension.release_columns]
    if frequencies is not None:
        generalized = {
            name: {v.code for v in values} for name, values in extension.generalized_values.items()
        }
        for doc in ordered:
            _count(doc, frequencies, generalized.get(doc.name, set()), standard)
    return ordered


def _count(
    doc: ColumnDoc, frequencies: Frequencies, generalized: set[str], standard: Standard
) -> None:
    """Give `doc` the release's counts: generalized codes only where they occur, and the
    country codes, years and list labels that occur, with their meaning."""
    if doc.type == "list":
        separator = standard.variable(doc.name).separator or ";"
        counts = frequencies.split(doc.name, separator)
    else:
        counts = frequencies.of(doc.name)
    doc.values = {
        c: label for c, label in doc.values.items() if c not in generalized or c in counts
    }
    if doc.value_note:
        for code in sorted(set(counts) - set(doc.values)):
            doc.values[code] = (
                ("not known" if code == standard.unknown_country else country_name(code))
                if doc.type == "country"
                else code
            )
    doc.counts = {code: counts.get(code, 0) for code in doc.values}
    doc.counts |= {code: n for code, n in counts.items() if code not in doc.values}


def _share(records: int, total: int) -> str:
    return f"{100 * records / total:.1f} %" if total else "0.0 %"


def statistics_section(statistics: Mapping | None) -> list[str]:
    """How the aggregate statistics were protected, and how to read the ptable."""
    if not statistics:
        return []
    lines = ["", "## Aggregate statistics", ""]
    if statistics.get("method") != "cell_key":
        return [
            *lines,
            "Counts from 1 to k - 1 are withheld (`suppressed` is true, `count` empty), with "
            "secondary suppression so that no withheld count follows from totals.",
        ]
    p, t = statistics["parameters"], statistics["ptable"]
    return [
        *lines,
        "Every count in `statistics/` is perturbed by the cell-key method: each record has "
        "a permanent secret key (never published), a cell's key is the sum of its records' "
        "keys modulo 2^32, and the published count is the true count plus the perturbation "
        "that `statistics/perturbation_table.csv` gives for (true count, cell key). The same "
        "people give the same count in every table, dashboard view and release. Nothing is "
        f"withheld; no published count lies in 1..{p['threshold']}: a true count from 1 to "
        f"{p['threshold']} is published as 0 or {p['threshold'] + 1}; a zero stays zero; "
        "a cell published as 0 is not listed. Totals are perturbed cells of their own, so "
        "parts do not add up to them exactly.",
        "",
        f"Parameters: maximum deviation D = {p['max_deviation']}, variance V = "
        f"{p['variance']}, small-count threshold js = {p['threshold']}.",
        "",
        "`perturbation_table.csv`: one row per true `count` (the last row stands for every "
        "larger count) and `perturbation`; `published` = count + perturbation; "
        "`probability`; a cell key in [`key_from`, `key_to`) out of 0..2^32 - 1 selects "
        "the row; `mean` and `variance`: the perturbation's bias and variance at that count.",
        "",
        f"Properties: largest absolute bias {t['max_abs_bias']:.2g}; variance "
        f"{t['variance_large_counts']:.3g} for counts of {p['threshold'] + p['max_deviation'] + 1} "
        f"and more; at most {t['variance_small_counts_max']:.3g} for the small counts, which "
        "go to 0 or the threshold.",
    ]


def codebook_markdown(
    docs: Sequence[ColumnDoc],
    policy: ReleasePolicy,
    release_id: str,
    standard: Standard,
    records: int,
    statistics: Mapping | None = None,
) -> str:
    """The codebook: how to read the values, a table of contents, then every column with
    its codes, their meaning and how many of the `records` hold each."""
    lines = [
        f"# Codebook: CTDC record-level release {release_id}",
        "",
        f"Standard: {standard.name} {standard.version}. One row per identified victim, "
        f"{records} records, as reported by the contributors listed in `manifest.json`.",
        "",
        "## How to read the values",
        "",
        f"- `{standard.missing_code}`: missing (the contributor did not record it).",
        f"- `{standard.unknown_country}` in a country column: country not known.",
        f"- `{policy.suppressed_value}`: suppressed to protect the people in the data.",
        "- A range such as `2016--2017` or `18--23`: a value generalized to a wider group; "
        "the region columns keep regional analyses complete.",
        "",
        f"Every combination of the quasi-identifiers ({', '.join(policy.release_qi_columns)}) "
        f"is shared by at least k = {policy.k} records. Counts computed from this file "
        "differ from the aggregate statistics, which use the full data.",
        *statistics_section(statistics),
        "",
        "## Contents",
        "",
    ]
    for doc in docs:
        entry = f"- [`{doc.name}`](#{doc.name}): missing "
        entry += _share(doc.counts.get(standard.missing_code, 0), records)
        if policy.suppressed_value in doc.values:
            entry += ", withheld " + _share(doc.counts.get(policy.suppressed_value, 0), records)
        lines.append(entry)
    lines += ["", "## Columns"]
    for doc in docs:
        lines += ["", f"### `{doc.name}`", "", doc.description, ""]
        lines.append(f"- type: {doc.type}; privacy role: {doc.role.replace('_', '-')}")
        if doc.supplied_by:
            lines.append(f"- supplied by: {', '.join(doc.supplied_by)}")
        if doc.value_note:
            lines.append(f"- values: {doc.value_note}")
        if doc.values:
            lines += ["", "| code | meaning | records | share |", "|---|---|---:|---:|"]
            lines += [
                f"| `{code}` | {label} | {doc.counts.get(code, 0)} "
                f"| {_share(doc.counts.get(code, 0), records)} |"
                for code, label in doc.values.items()
            ]
    return "\n".join(lines) + "\n"


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def codebook_html(markdown_text: str, title: str) -> str:
    """The Markdown codebook as one self-contained HTML page (markdown-it-py, raw HTML
    off); a column's heading has its name as id, so the contents link to it."""
    body = _MARKDOWN.render(markdown_text)
    body = re.sub(r"<h3><code>([^<]*)</code></h3>", r"<h3 id='\1'><code>\1</code></h3>", body)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.45;color:#222}table{border-collapse:collapse;margin:.5rem 0}"
        "td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}h3{margin-top:2rem}"
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title><style>{style}</style></head><body>"
        + body
        + "</body></html>\n"
    )


def missing_values(policy: ReleasePolicy, standard: Standard) -> list[str]:
    """The cells that hold no value: not recorded, withheld (and an empty cell)."""
    return [standard.missing_code, policy.suppressed_value, ""]


def datapackage(
    docs: Sequence[ColumnDoc],
    tables: Mapping[str, pl.DataFrame],
    policy: ReleasePolicy,
    release_id: str,
    *,
    standard: Standard,
    created: str,
    contributors: Mapping[str, str],
) -> dict:
    """A Frictionless Data Package (v1) describing the records (CSV and Parquet) and the
    statistics tables. `contributors`: each contributor in the release and its
    description."""
    missing = missing_values(policy, standard)
    fields = [
        {
            "name": doc.name,
            "type": doc.frictionless_type,
            "description": doc.description,
            **({"constraints": {"enum": _enum(doc, missing)}} if doc.closed else {}),
        }
        for doc in docs
    ]
    k_note = f"Record-level data, k-anonymized with k = {policy.k}."
    resources = [
        {
            "name": "victims",
            "path": "victims.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "description": f"{k_note} The codebook (codebook.md) explains every code.",
            "schema": {"fields": fields, "missingValues": missing},
        },
        {
            "name": "victims-parquet",
            "path": "victims.parquet",
            "profile": "data-resource",
            "format": "parquet",
            "mediatype": "application/vnd.apache.parquet",
            "description": f"{k_note} The same records as victims.csv, as Parquet.",
        },
    ]
    guide = tables.get("about_tables")
    described = (
        {row["table"]: row for row in guide.iter_rows(named=True)} if guide is not None else {}
    )
    for name, table in tables.items():
        about = described.get(name, {})
        resources.append(
            {
                "name": name.replace("_", "-"),
                "path": f"statistics/{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "title": about.get("title", _UNLISTED_TABLES.get(name, (name,))[0]),
                "description": about.get(
                    "description", _UNLISTED_TABLES.get(name, ("", "See the codebook."))[1]
                ),
                "schema": {
                    "fields": [
                        {"name": column, "type": _frictionless_type(dtype)}
                        for column, dtype in table.schema.items()
                    ],
                    "missingValues": [""],
                },
            }
        )
    return {
        "profile": "data-package",
        "name": f"ctdc-release-{release_id.lower()}",
        "title": f"CTDC record-level release {release_id}",
        "version": release_id,
        "created": created,
        "licenses": [LICENSE],
        "sources": [
            {"title": f"{name}: {description}"} for name, description in contributors.items()
        ],
        "contributors": [
            {"title": "Counter-Trafficking Data Collaborative", "role": "publisher"},
            *({"title": name, "role": "contributor"} for name in contributors),
        ],
        "ctdc": {
            "k": policy.k,
            "quasi_identifiers": policy.release_qi_columns,
            "suppressed_value": policy.suppressed_value,
            "standard": {"name": standard.name, "version": standard.version},
        },
        "resources": resources,
    }


#: Statistics tables that `about_tables` does not list: (title, description).
_UNLISTED_TABLES = {
    "about_tables": (
        "What each statistics table counts",
        "One row per statistics table: its dimensions, who is counted and how small counts "
        "are protected.",
    ),
    "perturbation_table": (
        "The cell-key perturbation table",
        "For each true count and cell-key range, the perturbation added to publish it "
        "(the cell-key method; see the codebook's Aggregate statistics section).",
    ),
}


def _enum(doc: ColumnDoc, missing: Sequence[str]) -> list:
    codes = [code for code in doc.values if code not in missing]
    return [int(code) for code in codes] if doc.frictionless_type == "integer" else codes


def _frictionless_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    return "string"

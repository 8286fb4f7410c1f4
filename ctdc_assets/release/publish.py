"""Assemble a release from the verified candidate and statistics, and publish it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctdc_assets.config import Settings
from ctdc_assets.crosswalk import load_crosswalks
from ctdc_assets.quality.report import quality_report
from ctdc_assets.release.bundle import BundleContent, new_release_id, write_bundle
from ctdc_assets.release.codebook import (
    codebook_html,
    codebook_markdown,
    column_docs,
    datapackage,
)
from ctdc_assets.release.compose import record_published
from ctdc_assets.release.frequencies import value_frequencies
from ctdc_assets.release.plan import ReleasePlan
from ctdc_assets.release.verify import verify_contents
from ctdc_assets.statistics.aggregates import PTABLE
from ctdc_assets.statistics.cellkey import CellKeyParams, properties
from ctdc_assets.warehouse.database import Connections
from ctdc_assets.warehouse.statistics import read_protection_figures, read_statistics
from ctdc_assets.warehouse.tables import CANDIDATE, CANDIDATE_FIGURES, MERGED


@dataclass(frozen=True)
class PublishedRelease:
    path: Path
    release_id: str
    records: int
    files: dict[str, str]
    new: bool = True  # False: same content as the current release, nothing published


def statistics_method(params: CellKeyParams | None, tables: dict) -> dict:
    """The manifest's account of how the statistics were protected."""
    if params is None:
        return {"method": "suppression"}
    return {
        "method": "cell_key",
        "parameters": {
            "max_deviation": params.max_deviation,
            "variance": params.variance,
            "threshold": params.threshold,
        },
        "ptable": properties(tables[PTABLE], params) | {"file": f"statistics/{PTABLE}.csv"},
    }


def publish_release(
    settings: Settings,
    warehouse: Connections,
    plan: ReleasePlan,
    gate_evaluations: Iterable[Any],
) -> PublishedRelease:
    """Publish the current candidate with the latest verdict of every gate (Dagster's
    check evaluations, which the quality report renders)."""
    standard, policy = plan.standard, plan.policy
    release_id = new_release_id()
    with warehouse.connection(read_only=True) as con:
        tables = read_statistics(con)
        statistics = statistics_method(plan.cell_key, tables) | {
            "figures": read_protection_figures(con)
        }
        published = con.execute(f"SELECT count(*) FROM {CANDIDATE}").fetchone()[0]
        figures, generalization, merged_records, composition = con.execute(
            f"SELECT figures, generalization, merged_records, composition FROM {CANDIDATE_FIGURES}"
        ).fetchone()
        composition = json.loads(composition) or {"first_release": True}
        provenance = con.execute(
            "SELECT contributor, delivery_date, delivery_sha256, count(*) AS records "
            f"FROM {MERGED} GROUP BY ALL ORDER BY contributor"
        ).fetchall()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        in_release = {row[0] for row in provenance}
        crosswalks = {
            name: crosswalk
            for name, crosswalk in load_crosswalks(settings.crosswalks_dir, broken={}).items()
            if name in in_release
        }
        docs = column_docs(
            policy,
            crosswalks,
            standard,
            value_frequencies(con, CANDIDATE),
            hierarchies=plan.hierarchies,
        )
        codebook = codebook_markdown(docs, policy, release_id, standard, published, statistics)
        package = datapackage(
            docs,
            tables,
            policy,
            release_id,
            standard=standard,
            created=created,
            contributors={
                c: crosswalks[c].description if c in crosswalks else c for c in sorted(in_release)
            },
        )
        texts = {
            "codebook.md": codebook,
            "codebook.html": codebook_html(codebook, f"Codebook {release_id}"),
            "datapackage.json": json.dumps(package, indent=2, ensure_ascii=False),
            "quality_report.md": quality_report(gate_evaluations, release_id=release_id)
            + composition_section(composition),
        }
        manifest = {
            "created_at": created,
            "standard": {"name": standard.name, "version": standard.version},
            "policy": policy.model_dump(mode="json"),
            "policy_sha256": plan.policy_sha256,
            "quasi_identifiers": policy.release_qi_columns,
            "counts": {
                "records_before_anonymization": merged_records,
                "records_published": published,
                "records_suppressed": merged_records - published,
            },
            "composition_with_previous_release": composition,
            "generalization": json.loads(generalization),
            "figures": json.loads(figures),
            "contributors": [
                {"contributor": c, "delivery_date": d, "delivery_sha256": h, "records": n}
                for c, d, h, n in provenance
            ],
            "statistics_threshold": policy.k,
            "statistics": statistics,
        }
        content = BundleContent(
            records=con.table(str(CANDIDATE)),  # streamed from DuckDB to the files
            tables=tables,
            files={"dashboard.html": settings.data_dir / "staging" / "dashboard.html"},
            texts=texts,
            manifest=manifest,
        )
        path = write_bundle(
            settings.releases_dir,
            release_id,
            content,
            verify=lambda folder: verify_contents(
                folder,
                policy,
                total_records=merged_records,
                published_records=published,
                audit_parquet=False,
            ),
            signing_key=settings.release_signing_key(),
        )
    new = path.name == release_id
    if new:  # an unchanged release keeps the state it was published with
        with warehouse.connection() as con:
            record_published(con)
    files = json.loads((path / "manifest.json").read_text())["files"]
    return PublishedRelease(path, path.name, published, files, new=new)


def composition_section(composition: dict) -> str:
    """The quality report's account of what this release holds back, and why."""
    lines = ["", "## Composition with the previous release", ""]
    if composition.get("first_release"):
        return "\n".join([*lines, "First release: every record the engine kept is published.", ""])
    lines += [
        "No quasi-identifier class changes by 1 to k-1 records since the previous release, "
        "so comparing the two does not single out a record.",
        "",
        f"- records no longer delivered (consent withdrawn or deleted at source), removed at "
        f"once: {composition['records_removed_at_once']} (not said where)",
        f"- new records published more generalized, recoded together in classes of at "
        f"least k new records: {composition['new_records_recoded_together']}",
        f"- records held back: {composition['records_held_back']}",
        f"- records whose change is deferred (previous version published): "
        f"{composition['records_with_deferred_changes']}",
        "",
        "| reason | records |",
        "|---|---|",
        *(f"| {reason} | {n} |" for reason, n in composition["held_back_by_reason"].items()),
        "",
    ]
    return "\n".join(lines)

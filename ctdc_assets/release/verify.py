"""`ctdc verify`: an independent audit of a published release folder.

What a data consumer or an auditor can check with the folder, a pinned public key and
the project's release policy, and which tampering each check catches:

- the Ed25519 signature (`signing.py`) against the pinned key, then every file against
  the signed checksums: the only check that sees records changed in ways that keep every
  rule (sensitive attributes shuffled between records, Male and Female swapped) or a
  changed dashboard, once an adversary has recomputed the manifest's checksums;
- every file against the manifest's own checksums (no pinned key needed);
- k (and l), the columns (exactly the standard's plus the region columns), codebook
  values and the suppression limit recomputed from the CSV, read as text, and again from
  the Parquet file, and both files holding the same records; the CSV's count against the
  manifest's (a column added to one file, duplicated or removed records);
- the codebook against the standard, the statistics through their own audit and
  against the manifest's counts (`consistency.py`).

It loads the policy from the manifest and shares no code with the anonymization engine.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ctdc_assets.anonymize import audit_release, failures, load_policy
from ctdc_assets.anonymize.audit import AuditFinding
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy import ReleasePolicy
from ctdc_assets.config import Settings
from ctdc_assets.landing import sha256_file
from ctdc_assets.release.bundle import MANIFEST, RECORDS_CSV, RECORDS_PARQUET, formula_cells
from ctdc_assets.release.consistency import codebook_problems, statistics_problems
from ctdc_assets.release.signing import SIGNATURE, check_signature, signed_file_problems
from ctdc_assets.standard import load_standard
from ctdc_assets.warehouse.bounded import quote


@contextmanager
def loaded_records(folder: Path) -> Iterator[tuple[duckdb.DuckDBPyRelation, str]]:
    """The CSV as text (a DuckDB relation) and the name of its row-number column.

    Polars parses the CSV (every cell as text, nothing inferred), streamed into a
    scratch Parquet file that DuckDB then scans: the audit reads the records a few
    times, and a 10M-row table of strings would not fit in memory.
    """
    source = pl.scan_csv(folder / RECORDS_CSV, infer_schema=False)
    row_column = "__row__"
    while row_column in source.collect_schema():
        row_column = f"_{row_column}_"
    with tempfile.TemporaryDirectory(prefix="ctdc-verify-") as scratch:
        path = Path(scratch) / "records.parquet"
        # Scratch: no compression nor statistics (a fifth less CPU at 1M records).
        source.with_row_index(row_column, offset=1).sink_parquet(
            path, compression="uncompressed", statistics=False
        )
        con = duckdb.connect()
        try:
            yield con.read_parquet(str(path)), row_column
        finally:
            con.close()


def verify_contents(
    folder: Path,
    policy: ReleasePolicy,
    *,
    total_records: int | None,
    published_records: int | None = None,
    audit_parquet: bool = True,
) -> list[str]:
    """Problems with the records (CSV and Parquet) and their description; empty when all
    holds. `published_records` is the manifest's count of published records. Without
    `audit_parquet` the Parquet file is only compared with the CSV (same columns, same
    records as text, so the gates would find the same): publication, which wrote both
    from one table, saves 1.9 s of CPU at 92,000 records."""
    problems: list[str] = []
    hierarchies = build_hierarchies(policy, load_standard())  # once for both files
    try:
        with loaded_records(folder) as (records, rows):
            columns = [c for c in records.columns if c != rows]
            if formula := formula_cells(records.select(*[f'"{c}"' for c in columns])):
                problems.append(
                    f"{RECORDS_CSV}: cells starting with a formula character in {formula}"
                )
            findings = audit_release(
                records,
                policy,
                total_records=total_records,
                hierarchies=hierarchies,
                row_column=rows,
            )
            csv_print = _fingerprint(records, columns)
    except (OSError, pl.exceptions.PolarsError, duckdb.Error) as error:
        return [f"{RECORDS_CSV} cannot be read: {error}"]
    problems += _audit_problems(RECORDS_CSV, findings)
    if published_records is not None and csv_print[0] != published_records:
        problems.append(
            f"{RECORDS_CSV} holds {csv_print[0]} records, the manifest says "
            f"{published_records} published"
        )
    problems += _parquet_problems(
        folder, policy, total_records, hierarchies if audit_parquet else None, columns, csv_print
    )
    package_file = folder / "datapackage.json"
    if package_file.exists():
        package = json.loads(package_file.read_text(encoding="utf-8"))
        resource = next(r for r in package["resources"] if r["path"] == RECORDS_CSV)
        declared = [f["name"] for f in resource["schema"]["fields"]]
        if declared != columns:
            problems.append("datapackage.json does not describe the columns of victims.csv")
        stated = package.get("ctdc", {}).get("k")
        if stated != policy.k:
            problems.append(f"datapackage.json states k = {stated}, the manifest k = {policy.k}")
    else:
        problems.append("datapackage.json is missing")
    return problems


def _audit_problems(name: str, findings: list[AuditFinding]) -> list[str]:
    """The release gates' failures, the columns gate naming the columns (the file's
    own header, never a cell)."""
    problems = []
    for finding in failures(findings):
        if finding.check != "columns":
            problems.append(f"{name}: {finding.check}: {finding.summary}")
            continue
        extra = [d["column"] for d in finding.details if d["problem"] != "missing"]
        missing = [d["column"] for d in finding.details if d["problem"] == "missing"]
        if extra:
            problems.append(f"{name}: columns not in the standard: {', '.join(extra)}")
        if missing:
            problems.append(f"{name}: columns of the standard missing: {', '.join(missing)}")
    return problems


def _fingerprint(records: duckdb.DuckDBPyRelation, columns: list[str]) -> tuple[int, int]:
    """(records, sum of a hash of each record as text): equal for the same records in any
    order and any file format. One scan; a consistency check, not a cryptographic one
    (the signature is that)."""
    cells = ", ".join(f"coalesce(CAST({quote(c)} AS VARCHAR), chr(0))" for c in columns)
    row = records.aggregate(f"count(*), coalesce(sum(hash(concat_ws(chr(31), {cells}))), 0)")
    count, total = row.fetchone() or (0, 0)
    return int(count), int(total)


def _parquet_problems(
    folder: Path,
    policy: ReleasePolicy,
    total_records: int | None,
    hierarchies: dict[str, Hierarchy] | None,
    csv_columns: list[str],
    csv_print: tuple[int, int],
) -> list[str]:
    """The release gates recomputed on the Parquet file (unless `hierarchies` is None),
    and its records against the CSV's."""
    con = duckdb.connect()
    try:
        records = con.read_parquet(str(folder / RECORDS_PARQUET))
        problems = []
        if hierarchies is not None:
            findings = audit_release(
                records, policy, total_records=total_records, hierarchies=hierarchies
            )
            problems = _audit_problems(RECORDS_PARQUET, findings)
        if set(records.columns) != set(csv_columns):
            return [*problems, f"{RECORDS_PARQUET} and {RECORDS_CSV} have different columns"]
        if _fingerprint(records, csv_columns) != csv_print:
            problems.append(f"{RECORDS_PARQUET} and {RECORDS_CSV} hold different records")
        return problems
    except (OSError, duckdb.Error) as error:
        return [f"{RECORDS_PARQUET} cannot be read: {error}"]
    finally:
        con.close()


def verify_release(
    folder: Path,
    *,
    policy_file: Path | str | None = None,
    public_keys: list[Ed25519PublicKey] | None = None,
) -> list[str]:
    """Everything `ctdc verify` checks; empty when the release is sound.

    `public_keys` are the pinned keys (default: the deployment's, see
    `Settings.release_public_keys`); the key published in the folder is never trusted.
    """
    folder = Path(folder)
    manifest_file = folder / MANIFEST
    if not manifest_file.exists():
        return [f"{manifest_file} is missing: not a release folder"]
    if public_keys is None:
        public_keys = Settings.from_env().release_public_keys()
    problems, signed = check_signature(folder, public_keys)
    if signed is not None:
        problems += signed_file_problems(folder, signed)
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        policy = ReleasePolicy.model_validate(manifest["policy"])
        counts = manifest["counts"]
        listed: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        return [*problems, f"{MANIFEST} is not a valid release manifest: {error}"]

    named = {problem.split(":", 1)[0] for problem in problems}  # a file's problem once
    for name, expected in listed.items():
        path = folder / name
        if name in named:
            continue
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: checksum differs from the manifest (file was changed)")
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(listed) - {MANIFEST, SIGNATURE} - named):
        problems.append(f"{name}: not listed in the manifest")

    if policy_file is not None:
        problems += _policy_problems(policy, load_policy(Path(policy_file)))
    standard = load_standard()
    stated = manifest.get("standard", {})
    if stated != {"name": standard.name, "version": standard.version}:
        problems.append(
            f"the manifest's standard {stated} is not the one this verifier checks against "
            f"({standard.name} {standard.version})"
        )
    return (
        problems
        + verify_contents(
            folder,
            policy,
            total_records=counts.get("records_before_anonymization"),
            published_records=counts.get("records_published"),
        )
        + codebook_problems(folder, policy, str(manifest.get("release_id")), standard)
        + statistics_problems(folder, manifest)
    )


def _policy_problems(policy: ReleasePolicy, required: ReleasePolicy) -> list[str]:
    """The manifest's policy against the one the verifier requires."""
    problems = []
    if policy.k < required.k:
        problems.append(f"the manifest's k = {policy.k} is below the policy's k = {required.k}")
    missing = set(required.release_qi_columns) - set(policy.release_qi_columns)
    if missing:
        problems.append(f"quasi-identifiers left out of the manifest: {sorted(missing)}")
    if required.l_diversity and (
        not policy.l_diversity or policy.l_diversity.l < required.l_diversity.l
    ):
        problems.append("the manifest's l-diversity is weaker than the policy's")
    return problems

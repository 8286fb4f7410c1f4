"""Two real releases a month apart, compared by an adversary (issue 13).

The second hotline delivery has about 2 % more records (on this small sample 1 % is fewer
than k, too few to recode among themselves), some changed records and some withdrawn (no
longer delivered). The adversary diffs the two published files class by
class and row by row; both releases must still pass `ctdc verify`. One module-scoped
deployment, two `ctdc run`s on the small sample.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from ctdc_assets.anonymize import load_policy
from ctdc_assets.anonymize.engine import anonymize
from ctdc_assets.anonymize.increment import WITHHELD_CLASS
from ctdc_assets.assets.resources import Warehouse
from ctdc_assets.config import Settings
from ctdc_assets.release.verify import verify_release
from tests.conftest import SMALL_SAMPLE, make_deployment
from tests.unit.test_release_diff import diff_attack

pytestmark = pytest.mark.slow

NEW_RECORDS = SMALL_SAMPLE // 50  # about 2 % more records, all of the hotline
CHANGED = 4
WITHDRAWN = 3


def second_hotline_delivery(
    landing: Path,
    scratch: Path,
    *,
    new_records: int = NEW_RECORDS,
    changed: int = CHANGED,
    withdrawn: int = WITHDRAWN,
) -> None:
    """A month later: new hotline cases, a few changed, a few no longer delivered."""
    import datetime as dt

    from ctdc_assets.sample_data import write_sample

    (first,) = (landing / "hotline").glob("*.csv")
    old = pl.read_csv(first, infer_schema=False)
    other = write_sample(
        scratch,
        records=max(SMALL_SAMPLE, new_records * 100) * 2,
        seed=12,
        delivery_date=dt.date(2025, 4, 30),
        contributors=("hotline",),
    )["hotline"]
    new = pl.read_csv(other, infer_schema=False)
    new = new.filter(~pl.col("case_id").is_in(old["case_id"].implode())).head(new_records)
    rows = old.height
    edited = pl.int_range(rows).is_in(list(range(10, 10 + changed)))
    kept = ~pl.int_range(rows).is_in(list(range(10 + changed, 10 + changed + withdrawn)))
    old = old.with_columns(
        pl.when(edited)
        .then(pl.lit("Labour"))
        .otherwise(pl.col("trafficking_type"))
        .alias("trafficking_type"),
        pl.when(edited).then(pl.lit("F")).otherwise(pl.col("victim_gender")).alias("victim_gender"),
    ).filter(kept)
    path = landing / "hotline" / "hotline_export_20250430.csv"
    pl.concat([old, new.select(old.columns)]).write_csv(path.with_suffix(".part"))
    path.with_suffix(".part").rename(path)


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from ctdc_assets.runner import run_pipeline
    from ctdc_assets.sample_data import write_sample

    saved = dict(os.environ)
    root = tmp_path_factory.mktemp("composition")
    deployment = make_deployment(root)
    landing = deployment.data_dir / "landing"
    write_sample(landing, records=SMALL_SAMPLE, seed=11)
    try:
        first = run_pipeline(Settings.from_env())
        assert first.success, first
        second_hotline_delivery(landing, root / "scratch")
        second = run_pipeline(Settings.from_env())
        assert second.success, second
        releases = sorted(
            p for p in (deployment.data_dir / "releases").iterdir() if not p.is_symlink()
        )
        settings = Settings.from_env()
        with Warehouse.from_settings(settings).connection(read_only=True) as con:
            merged = con.execute("SELECT * FROM merged.victims").pl()
        yield {"releases": releases, "merged": merged, "settings": settings}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def records(release: Path) -> pl.DataFrame:
    return pl.read_csv(release / "victims.csv", infer_schema=False)


def test_two_releases_are_published_and_verified(two_releases) -> None:
    releases = two_releases["releases"]
    assert len(releases) == 2
    for release in releases:
        assert verify_release(release) == []


def test_the_diff_adversary_singles_out_no_record(two_releases) -> None:
    first, second = two_releases["releases"]
    policy = load_policy(two_releases["settings"].policy_file)
    attack = diff_attack(records(first), records(second), policy)
    assert attack.singled_out == 0, attack
    assert attack.recovered == 0, attack


def test_without_composition_the_same_adversary_succeeds(two_releases) -> None:
    """The engine alone (the release before composition) on the second month's data."""
    first, _ = two_releases["releases"]
    policy = load_policy(two_releases["settings"].policy_file)
    naive = anonymize(two_releases["merged"], policy).frame
    naive = naive.select(pl.all().cast(pl.String))
    attack = diff_attack(records(first), naive, policy)
    assert attack.singled_out > 0, attack


def test_the_release_says_what_it_holds_back_and_how_many_were_withdrawn(two_releases) -> None:
    first, second = two_releases["releases"]
    manifest = json.loads((second / "manifest.json").read_text())
    composed = manifest["composition_with_previous_release"]
    assert composed["records_removed_at_once"] == WITHDRAWN
    held = composed["records_held_back"] + composed["records_with_deferred_changes"]
    assert held > 0
    assert composed["new_records_recoded_together"] >= 11
    assert sum(composed["held_back_by_reason"].values()) == held
    counts = manifest["counts"]
    assert counts["records_published"] == records(second).height
    withheld = composed["held_back_by_reason"][WITHHELD_CLASS]
    assert counts["records_published"] >= records(first).height - WITHDRAWN - withheld
    assert (
        counts["records_published"] + composed["records_held_back"]
        <= counts["records_before_anonymization"]
    )
    report = (second / "quality_report.md").read_text()
    assert "## Composition with the previous release" in report
    assert f"removed at once: {WITHDRAWN}" in report
    first_manifest = json.loads((first / "manifest.json").read_text())
    assert first_manifest["composition_with_previous_release"] == {"first_release": True}

"""The two-release diff gate, and the adversary it stands for (issue 13)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl
import pytest

from ctdc_assets.anonymize import ReleasePolicy, load_policy
from ctdc_assets.anonymize.release_diff import previous_records, release_diff
from ctdc_assets.config import PROJECT_ROOT


@dataclass(frozen=True)
class Attack:
    classes: int  # classes that grew by 1..k-1 records
    singled_out: int  # records in them: the adversary knows they are new
    recovered: int  # new rows the row-by-row diff isolates exactly


def diff_attack(before: pl.DataFrame, after: pl.DataFrame, policy: ReleasePolicy) -> Attack:
    """Compare two published files as text: every class that grew by fewer than k shows
    its new records; when the class's row multiset grew by exactly those rows, the diff
    recovers each of them whole (sensitive attributes included)."""
    columns = [c for c in after.columns if c in before.columns]
    before = before.select(pl.col(columns).cast(pl.String))
    after = after.select(pl.col(columns).cast(pl.String))
    qis = [c for c in policy.release_qi_columns if c in columns]
    counts = (
        before.group_by(qis)
        .len("before")
        .join(after.group_by(qis).len("after"), on=qis, how="full", coalesce=True)
        .fill_null(0)
        .with_columns(growth=pl.col("after").cast(pl.Int64) - pl.col("before").cast(pl.Int64))
        .filter((pl.col("growth") > 0) & (pl.col("growth") < policy.k))
    )
    recovered = 0
    for row in counts.iter_rows(named=True):
        match = pl.all_horizontal(pl.col(q) == row[q] for q in qis)
        old = before.filter(match).group_by(columns).len("n_old")
        new = after.filter(match).group_by(columns).len("n_new")
        diff = new.join(old, on=columns, how="left").fill_null(0)
        added = int((diff["n_new"] - diff["n_old"]).clip(lower_bound=0).sum())
        if added == row["growth"]:
            recovered += added
    return Attack(counts.height, int(counts["growth"].sum()), recovered)


@pytest.fixture(scope="module")
def policy() -> ReleasePolicy:
    return load_policy(PROJECT_ROOT / "release_policy.yaml")


def release(policy: ReleasePolicy, sizes: dict[str, int], sensitive: str = "x") -> pl.DataFrame:
    """A release of classes that differ in citizenship only, with `sizes` records each."""
    base = {c: "*" for c in policy.release_qi_columns}
    rows = [
        base | {"citizenship": country, "typeOfExploitConcatenated": f"{sensitive}{i}"}
        for country, n in sizes.items()
        for i in range(n)
    ]
    return pl.DataFrame(rows)


def gate(policy, before, after, removed=0):
    con = duckdb.connect()
    return release_diff(
        None if before is None else con.from_arrow(before.to_arrow()),
        con.from_arrow(after.to_arrow()),
        policy,
        removed=removed,
    )


def test_the_first_release_passes(policy) -> None:
    assert gate(policy, None, release(policy, {"FR": 11})).passed


def test_the_same_release_again_passes(policy) -> None:
    same = release(policy, {"FR": 11, "DE": 20})
    finding = gate(policy, same, same)
    assert finding.passed
    assert finding.figures["records_singled_out"] == 0


def test_a_class_grown_by_one_record_is_refused_without_its_values(policy) -> None:
    before = release(policy, {"FR": 11, "DE": 20})
    after = release(policy, {"FR": 12, "DE": 20})
    finding = gate(policy, before, after)
    assert not finding.passed
    assert finding.check == "release_diff"
    assert finding.figures["records_singled_out"] == 1
    assert finding.details == [{"change": "+1", "classes": 1}]
    assert "FR" not in finding.summary + str(finding.details)
    assert diff_attack(before, after, policy) == Attack(classes=1, singled_out=1, recovered=1)


@pytest.mark.parametrize(
    "after",
    [{"FR": 22, "DE": 20}, {"FR": 11, "DE": 20, "IT": 11}, {"DE": 20}, {"FR": 11, "DE": 31}],
    ids=["grown by k", "new class", "class gone", "grown by more than k"],
)
def test_changes_of_k_or_more_pass(policy, after) -> None:
    before = release(policy, {"FR": 11, "DE": 20})
    assert gate(policy, before, release(policy, after)).passed
    assert diff_attack(before, release(policy, after), policy).singled_out == 0


def test_small_decreases_pass_only_as_withdrawals(policy) -> None:
    before = release(policy, {"FR": 13, "DE": 20})
    after = release(policy, {"FR": 11, "DE": 19})
    assert not gate(policy, before, after, removed=2).passed
    assert gate(policy, before, after, removed=3).passed


def test_the_previous_release_is_read_from_its_folder(policy, tmp_path) -> None:
    before = release(policy, {"FR": 11})
    before.write_csv(tmp_path / "victims.csv")
    con = duckdb.connect()
    assert not release_diff(
        previous_records(con, tmp_path),
        con.from_arrow(release(policy, {"FR": 15}).to_arrow()),
        policy,
    ).passed
    before.write_parquet(tmp_path / "victims.parquet")
    assert release_diff(
        previous_records(con, tmp_path), con.from_arrow(before.to_arrow()), policy
    ).passed
    with pytest.raises(FileNotFoundError, match="victims"):
        previous_records(con, tmp_path / "nowhere")

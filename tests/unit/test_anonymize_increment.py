"""Composition of a release with the previous one, on synthetic records (issue 13).

The adversary's view is the class counts of the two releases: every class must change by
0 or at least k records, except for records removed at once (withdrawn).
"""

from __future__ import annotations

import polars as pl

from ctdc_assets.anonymize.increment import (
    DEFERRED_CHANGE,
    HELD_NEW,
    WITHHELD_CLASS,
    Composition,
    compose,
)

K = 11


def state(classes: dict[str, int], prefix: str = "r") -> pl.DataFrame:
    """Published records: `n` records in each class, unchanged source digests."""
    keys = [(f"{prefix}{c}-{i}", c) for c, n in classes.items() for i in range(n)]
    return pl.DataFrame(
        {
            "record_key": [k for k, _ in keys],
            "source_hash": [f"h-{k}" for k, _ in keys],
            "class_key": [c for _, c in keys],
        }
    )


def published_counts(
    composition: Composition, previous: pl.DataFrame, fresh: pl.DataFrame
) -> dict[str, int]:
    """Class counts of the composed release, as the adversary sees them."""
    old = previous.filter(pl.col("record_key").is_in(composition.keep_previous.implode()))
    new = fresh.filter(pl.col("record_key").is_in(composition.publish_fresh.implode()))
    both = pl.concat([old.select("record_key", "class_key"), new.select("record_key", "class_key")])
    assert both["record_key"].n_unique() == both.height, "a record published twice"
    return dict(both.group_by("class_key").len().iter_rows())


def changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {c: after.get(c, 0) - before.get(c, 0) for c in {*before, *after}}


def run(previous, current, fresh):
    composition = compose(previous, current, fresh, K)
    before = dict(previous.group_by("class_key").len().iter_rows())
    after = published_counts(composition, previous, fresh)
    return composition, changes(before, after), after


def test_nothing_new_publishes_the_same_release() -> None:
    previous = state({"A": 11, "B": 30})
    current = previous.select("record_key", "source_hash")
    composition, change, _ = run(previous, current, previous.select("record_key", "class_key"))
    assert set(change.values()) == {0}
    assert composition.keep_previous.len() == 41
    assert composition.held_back == {HELD_NEW: 0, DEFERRED_CHANGE: 0, WITHHELD_CLASS: 0}


def test_a_few_new_records_are_held_back_until_k_arrive() -> None:
    previous = state({"A": 11, "B": 30})
    new = state({"A": 3, "B": 1}, prefix="n")
    current = pl.concat([previous, new]).select("record_key", "source_hash")
    fresh = pl.concat([previous, new]).select("record_key", "class_key")
    composition, change, _ = run(previous, current, fresh)
    assert set(change.values()) == {0}
    assert composition.held_back[HELD_NEW] == 4

    later = state({"A": 11, "B": 1}, prefix="m")  # next month: A has 3 + 11 new
    current = pl.concat([previous, new, later]).select("record_key", "source_hash")
    fresh = pl.concat([previous, new, later]).select("record_key", "class_key")
    composition, change, _ = run(previous, current, fresh)
    assert change == {"A": 14, "B": 0}
    assert composition.held_back[HELD_NEW] == 2


def test_the_previous_generalization_is_kept_for_unchanged_records() -> None:
    """The engine now puts everyone in a coarser class: unchanged records keep theirs."""
    previous = state({"A": 11, "B": 12})
    current = previous.select("record_key", "source_hash")
    fresh = previous.select("record_key", class_key=pl.lit("AB"))
    composition, _, after = run(previous, current, fresh)
    assert after == {"A": 11, "B": 12}
    assert composition.publish_fresh.len() == 0


def test_a_change_is_deferred_until_k_records_leave_the_class_together() -> None:
    previous = state({"A": 20, "B": 30})
    moved = previous.head(3)["record_key"]
    current = previous.select(
        "record_key",
        pl.when(pl.col("record_key").is_in(moved.implode()))
        .then(pl.lit("changed"))
        .otherwise("source_hash")
        .alias("source_hash"),
    )
    fresh = previous.select(
        "record_key",
        pl.when(pl.col("record_key").is_in(moved.implode()))
        .then(pl.lit("B"))
        .otherwise("class_key")
        .alias("class_key"),
    )
    composition, change, _ = run(previous, current, fresh)
    assert set(change.values()) == {0}
    assert composition.held_back[DEFERRED_CHANGE] == 3
    assert set(moved) <= set(composition.keep_previous)


def test_withdrawn_records_are_removed_at_once_and_small_classes_withheld() -> None:
    previous = state({"A": 11, "B": 30})
    gone = ["rA-0", "rB-0", "rB-1"]
    current = previous.filter(~pl.col("record_key").is_in(gone)).select("record_key", "source_hash")
    fresh = current.join(previous, on=["record_key", "source_hash"]).select(
        "record_key", "class_key"
    )
    composition, change, after = run(previous, current, fresh)
    assert composition.removed == 3
    assert not set(gone) & set(composition.keep_previous)
    assert change == {"A": -11, "B": -2}  # A fell below k: withheld whole
    assert composition.held_back[WITHHELD_CLASS] == 10
    assert min(after.values()) >= K


def test_a_month_of_changes_never_moves_a_class_by_fewer_than_k() -> None:
    """Many classes, 1 % new records, changes and withdrawals, mixed at random."""
    import numpy as np

    rng = np.random.default_rng(7)
    classes = {f"c{i}": int(n) for i, n in enumerate(rng.integers(11, 60, 200))}
    previous = state(classes)
    n = previous.height
    withdrawn = rng.choice(n, 20, replace=False)
    changed = rng.choice(np.setdiff1d(np.arange(n), withdrawn), 40, replace=False)
    new = state({f"c{i}": 1 for i in rng.integers(0, 200, n // 100)}, prefix="n").with_columns(
        record_key=pl.col("record_key") + pl.int_range(pl.len()).cast(pl.String)
    )
    keep = ~pl.int_range(n).is_in(withdrawn)
    moved = pl.int_range(n).is_in(changed)
    current = pl.concat(
        [
            previous.with_columns(
                source_hash=pl.when(moved).then(pl.lit("v2")).otherwise("source_hash")
            ).filter(keep),
            new,
        ]
    ).select("record_key", "source_hash")
    fresh = pl.concat(
        [
            previous.with_columns(
                class_key=pl.when(moved)
                .then(pl.format("c{}", (pl.int_range(pl.len()) % 200)))
                .otherwise("class_key")
            ).filter(keep),
            new,
        ]
    ).select("record_key", "class_key")
    composition, change, after = run(previous, current, fresh)
    small = {c: d for c, d in change.items() if 0 < abs(d) < K}
    assert all(d < 0 for d in small.values())  # only decreases, and only withdrawals
    assert -sum(small.values()) <= composition.removed == 20
    assert min(after.values()) >= K
    assert composition.held_back[HELD_NEW] > 0

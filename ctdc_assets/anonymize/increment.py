"""Releases that compose: which records a new release may publish, given the last one.

Why: two releases that are each k-anonymous can still single out a record when they are
compared. A class that grows by one record between releases shows that record, and a
row-by-row diff of the class recovers it whole. So a class may only change by 0 or by at
least k records (`release_diff` checks the published files for this).

The rule here, per quasi-identifier class (the published QI tuple as text):

- a record already published whose source row is unchanged keeps its previous row (and so
  the previous release's generalization), whatever the engine would choose now;
- new records and changed records enter a class; changed records leave their old one.
  Entries into a class are published only if at least k of them enter it together, exits
  from a class only if at least k leave it together, and only if the class's count then
  changes by 0 or at least k. Otherwise new records are held back and changes deferred
  (the previous version of a changed record stays published) until enough accumulate;
- a record no longer delivered (its consent withdrawn, or deleted at source) is removed at
  once: the pipeline cannot keep publishing it. The release says how many, not where;
- a class left below k by such removals is withheld whole (it vanishes, which is a change
  of at least k), its records published again when their class can hold them.

`release.compose` then recodes the new records held back among themselves (coarser
classes of at least k new records each) and composes once more, so that most enter at
once, more generalized, instead of waiting for k records of one finer class.

Holding back only ever turns a publication off, so the fixpoint below terminates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

#: Why records of the candidate are not published as the engine recoded them.
HELD_NEW = "new records held back: their class would change by fewer than k"
DEFERRED_CHANGE = "changes deferred: the previous version stays published"
WITHHELD_CLASS = "records withheld: their class fell below k after withdrawals"


@dataclass(frozen=True)
class Composition:
    """What the next release publishes: previous rows, fresh rows, and what was held."""

    keep_previous: pl.Series  # record keys whose previously published row is published again
    publish_fresh: pl.Series  # record keys published as the engine recoded them now
    held_new: pl.Series  # record keys of the new records held back
    held_back: dict[str, int]  # reason -> records
    removed: int  # previously published records no longer delivered: removed at once
    recoded_together: int = 0  # new records published more generalized, in classes of k new

    def report(self) -> dict:
        return {
            "records_removed_at_once": self.removed,
            "new_records_recoded_together": self.recoded_together,
            "records_held_back": self.held_back[HELD_NEW] + self.held_back[WITHHELD_CLASS],
            "records_with_deferred_changes": self.held_back[DEFERRED_CHANGE],
            "held_back_by_reason": dict(self.held_back),
        }


def compose(
    previous: pl.DataFrame, current: pl.DataFrame, fresh: pl.DataFrame, k: int
) -> Composition:
    """Decide the next release from the previous one's records.

    `previous`: record_key, source_hash, class_key of every record published last time.
    `current`: record_key, source_hash of every record the release is made from now.
    `fresh`: record_key, class_key of the records the engine kept in its recoding now.
    """
    now = current.select("record_key", now_hash="source_hash")
    new = fresh.select("record_key", new_class="class_key")
    was = previous.select("record_key", was_hash="source_hash", old_class="class_key")
    records = now.join(new, "record_key", "left").join(was, "record_key", "full", coalesce=True)
    published = records["was_hash"].is_not_null().to_numpy()
    delivered = records["now_hash"].is_not_null().to_numpy()
    same = (records["now_hash"] == records["was_hash"]).fill_null(False).to_numpy()
    unchanged = published & delivered & same
    changed = published & delivered & ~same
    removed = published & ~delivered
    classes = pd.factorize(
        pd.concat([records["old_class"].to_pandas(), records["new_class"].to_pandas()])
    )[0]
    n = records.height
    old_class, new_class = classes[:n], classes[n:]  # -1: none
    width = int(classes.max(initial=-1)) + 1
    new_on = (new_class >= 0) & ~unchanged & ~removed  # entries (new or changed records)
    dissolved = np.zeros(n, dtype=bool)

    def count(mask: np.ndarray, of: np.ndarray) -> np.ndarray:
        return np.bincount(of[mask & (of >= 0)], minlength=width)

    def small(change: np.ndarray) -> np.ndarray:
        return (change > 0) & (change < k)

    before = count(published, old_class)
    withdrawn = count(removed, old_class)
    while True:
        old_on = (unchanged | (changed & ~new_on)) & ~dissolved
        exits = count(changed & new_on, old_class)
        entries = count(new_on, new_class)
        after = count(old_on, old_class) + entries
        net = after - before
        hold = small(entries) | (small(net) & (entries > 0))
        defer = small(exits) | (small(-net) & (-net > withdrawn) & (exits > 0))
        below = small(after)
        defer |= below & (exits > 0)
        hold |= below & (exits == 0) & (entries > 0)
        dissolve = below & (exits == 0) & (entries == 0)
        into, out_of = np.maximum(new_class, 0), np.maximum(old_class, 0)  # -1 masked out
        stop = new_on & (hold[into] | (changed & defer[out_of]))
        gone = old_on & dissolve[out_of] & (old_class >= 0)
        if not stop.any() and not gone.any():
            break
        new_on &= ~stop
        dissolved |= gone
    keys = records["record_key"]
    engine_kept = new_class >= 0
    return Composition(
        keep_previous=keys.filter(pl.Series(old_on)),
        publish_fresh=keys.filter(pl.Series(new_on)),
        held_new=keys.filter(pl.Series(~published & engine_kept & ~new_on)),
        held_back={
            HELD_NEW: int((~published & engine_kept & ~new_on).sum()),
            DEFERRED_CHANGE: int((changed & old_on).sum()),
            WITHHELD_CLASS: int(dissolved.sum()),
        },
        removed=int(removed.sum()),
    )

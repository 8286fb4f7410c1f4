"""Every table of the warehouse, named once.

A `Table` prints as `schema.name`, so it goes into SQL as it is; asset keys map to
these in `ctdc_assets.assets.keys`, and nothing else spells a table name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def staging(self) -> Table:
        """Where the next version is built before it is swapped in."""
        return Table(self.schema, f"_staging_{self.name}")


def raw(contributor: str) -> Table:
    """The newest delivery as loaded (personal data: raw layer only)."""
    return Table("raw", contributor)


def harmonized(contributor: str) -> Table:
    return Table("harmonized", contributor)


MERGED = Table("merged", "victims")
MERGED_NEXT = Table("merged", "victims_next")

#: The aggregate tables, one per statistic, replaced together.
STATISTICS_SCHEMA = "statistics"
#: What the protection cost (not published as a table).
STATISTICS_FIGURES = Table("statistics_meta", "figures")


def statistic(name: str) -> str:
    """One aggregate table (names may need quoting: they come from the table specs)."""
    return f'{STATISTICS_SCHEMA}."{name}"'


CANDIDATE = Table("release", "candidate")
CANDIDATE_FIGURES = Table("release", "candidate_figures")
#: The engine's own k-anonymous table, before composition with the last release.
FRESH = Table("release", "fresh")
#: The candidate's row number -> record key and digest (never published).
CANDIDATE_KEYS = Table("release", "candidate_keys")
#: What the last release published, per record (for composing the next one).
PUBLISHED_RECORDS = Table("release", "published_records")

HARMONIZE_COUNTS = Table("audit", "harmonize_counts")
UNMAPPED = Table("audit", "unmapped")
#: Every unmapped value of every delivery harmonized, to tell a new one from a known one.
UNMAPPED_SEEN = Table("audit", "unmapped_seen")
FINDINGS = Table("audit", "findings")

"""Utility and risk figures of a release, ours and the CTDC method's, side by side.

Every figure is computed from a published table (plus the total number of input
records), so the same code measures our release and the CTDC method applied to the
same data: delete every record whose combination of quasi-identifier values is
shared by fewer than k records. All figures are counts or shares, never values of
a class, so they can go into check metadata and the manifest.
"""

from __future__ import annotations

import polars as pl

from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy_model import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard


def ctdc_method(victims: pl.DataFrame, policy: ReleasePolicy) -> pl.DataFrame:
    """The CTDC method: keep only records whose original QI combination has >= k records."""
    qis = policy.qi_names
    # Enums and categoricals group as their strings do: no need for a copy as text.
    text = [q for q in qis if not isinstance(victims.schema[q], pl.Enum | pl.Categorical)]
    frame = victims.with_columns(pl.col(text).cast(pl.String))
    return frame.filter(pl.len().over(qis) >= policy.k)


def release_figures(
    frame: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    records_total: int,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> dict:
    """Utility and risk figures of one published table (JSON-serialisable)."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    qis = policy.qi_names
    star = policy.suppressed_value
    published = frame.height
    class_columns = [c for c in policy.release_qi_columns if c in frame.columns]
    cells = published * len(qis)

    original = {q: frame[q].cast(pl.String).is_in(hierarchies[q].original_values(q)) for q in qis}
    suppressed = {q: frame[q].cast(pl.String) == star for q in qis}
    kept_cells = sum(int(s.sum()) for s in original.values())
    suppressed_cells = sum(int(s.sum()) for s in suppressed.values())
    special = {standard.missing_code, standard.unknown_country, star}
    countries = {
        q: frame.filter(original[q] & ~frame[q].cast(pl.String).is_in(special))[q].n_unique()
        for q in qis
        if standard.variable(q).type == "country"
    }

    attributes = [a for a in policy.sensitive_attributes if a in frame.columns]
    homogeneous = dict.fromkeys(attributes, 0)
    any_homogeneous, classes, smallest = 0, 0, None
    if published:
        per_class = frame.group_by(class_columns).agg(
            pl.len().alias("size"),
            *[
                (
                    (pl.col(a).n_unique() == 1)
                    & (pl.col(a).first().cast(pl.String) != standard.missing_code)
                ).alias(a)
                for a in attributes
            ],
        )
        homogeneous = {a: int(per_class.filter(pl.col(a))["size"].sum()) for a in attributes}
        if attributes:
            any_homogeneous = int(per_class.filter(pl.any_horizontal(attributes))["size"].sum())
        classes, smallest = per_class.height, int(per_class["size"].min())
    return {
        "records_published": published,
        "records_total": records_total,
        "records_published_share": _share(published, records_total),
        "records_deleted": records_total - published,
        "qi_cells": cells,
        "qi_cells_original": kept_cells,
        "qi_cells_original_share": _share(kept_cells, cells),
        "qi_cells_generalized": cells - kept_cells - suppressed_cells,
        "qi_cells_suppressed": suppressed_cells,
        "qi_original_share_by_column": {q: _share(int(original[q].sum()), published) for q in qis},
        "distinct_countries_at_country_level": countries,
        "equivalence_classes": classes,
        "smallest_class": smallest,
        "average_class_size": round(published / classes, 2) if classes else None,
        "max_prosecutor_risk": round(1 / smallest, 4) if smallest else None,
        "average_prosecutor_risk": _share(classes, published),
        "records_in_homogeneous_classes": homogeneous,
        "records_in_homogeneous_classes_any": any_homogeneous,
    }


def side_by_side(
    frame: pl.DataFrame,
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> dict:
    """Our release's figures next to the CTDC method's on the same input."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    total = victims.height
    options = {"records_total": total, "standard": standard, "hierarchies": hierarchies}
    special = {standard.missing_code, standard.unknown_country}
    return {
        "k": policy.k,
        "quasi_identifiers": policy.release_qi_columns,
        "input": {
            "records": total,
            "distinct_countries": {
                q: victims.filter(~pl.col(q).cast(pl.String).is_in(special))[q].n_unique()
                for q in policy.qi_names
                if standard.variable(q).type == "country"
            },
        },
        "ours": release_figures(frame, policy, **options),
        "ctdc_method": release_figures(ctdc_method(victims, policy), policy, **options),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None

"""k-anonymization: optimal global generalization, then local recoding.

Why our own engine: no maintained Python library does this well. The pure-Python
ones are greedy partitioners (Mondrian-style, e.g. `anonypy`) or slow lattice
walks over DataFrames; `pycanon` only measures; the good implementations (ARX,
sdcMicro) need a JVM or R. This one works on integer codes with NumPy and takes
about a second for 100,000 records on two cores.

Method (the CTDC method deletes every record of a class below k; this keeps them):

1. Encode each quasi-identifier as integer leaf codes and collapse the records into
   their distinct combinations with counts (the frequency set).
2. Global generalization (full-domain): every node of the lattice of hierarchy
   levels is a candidate; information loss is the weighted share of cells taken off
   their original granularity (monotone in every level). Nodes are tried in
   increasing loss; a failing node (more outliers, i.e. records in classes below k
   or not l-diverse, than the suppression limit allows) is raised to a maximal
   failing node, and every node below that is known to fail without evaluation
   (monotonicity pruning, as in ARX's Flash/OLA). The first node that passes is
   the optimum. Class sizes roll up from an evaluated node below (hierarchies
   nest), so most evaluations touch a few hundred classes.
3. Local recoding of the outliers: they are not deleted. They start as one group
   at the top of every hierarchy (all suppressed), and
4. every class (the global node's classes and the outliers' group) is then
   specialized top-down, record by record where the data allow: a class tries to
   lower one quasi-identifier by one level; the parts of at least k records take
   the finer value, the smaller parts stay together at the coarser one (a pool of
   at least k, topped up with the smallest parts if needed). The split that
   restores most weighted granularity wins; repeat until no class can split. A
   record thus keeps every value its class can afford: only the cells that make it
   rare are generalized or suppressed.
5. If the outliers are fewer than k, records from the classes with most room above
   k join them; a record is deleted only if l-diversity cannot be met at all.

Exactness: a label code stands for one published tuple of strings (the country,
sub-region and region columns of a country are one tuple), so counting classes on
label codes is counting them on the published table, with a generalized or
suppressed value as a value of its own. Classes never exchange records and a pool
keeps a value its siblings lack, so every class stays at least k; two classes that
happen to publish the same values only make a larger one. The result is verified
once more here on the codes, and independently by `audit.audit_release` on the
table itself.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ctdc_assets.anonymize.figures import side_by_side
from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.lattice import Lattice, Rows, factorize
from ctdc_assets.anonymize.local import protect_outliers, specialize
from ctdc_assets.anonymize.policy_model import ReleasePolicy
from ctdc_assets.standard import Standard, load_standard


class AnonymizationError(RuntimeError):
    """The input cannot be anonymized as the policy asks (names column, never values)."""


@dataclass
class Anonymization:
    """The release table and how it was made."""

    frame: pl.DataFrame
    figures: dict
    generalization: dict[str, str]  # the global node: {qi: level name}
    records_total: int
    records_deleted: int
    nodes_evaluated: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Recoding:
    """What the anonymization decided for every input record, before any frame is built.

    `labels[:, j]` is the label code of quasi-identifier j (an index into its
    hierarchy's `outputs`); deleted records (`kept` False) carry the top level.
    """

    kept: np.ndarray  # bool, one per input record
    labels: np.ndarray  # (records, QIs) label codes
    node: np.ndarray  # the global generalization node
    generalization: dict[str, str]
    method: dict
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def records_total(self) -> int:
        return int(self.kept.size)


def recode(
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> Recoding:
    """Decide every record's published QI values; see the module docstring.

    `victims` needs only the quasi-identifiers and the l-diversity attributes (any
    string-like dtype: values are compared as text), in the input order.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    qis = policy.qi_names
    _check_input(victims, qis)
    leaf_codes = np.column_stack([_encode(victims[q], hierarchies[q]) for q in qis])
    lattice = _lattice(victims, policy, hierarchies, leaf_codes)
    rows = Rows(
        tuple_=np.arange(lattice.tuple_count.size),
        count=lattice.tuple_count.astype(np.int64),
        part=np.full(lattice.tuple_count.size, -1, dtype=np.int64),
    )
    timings["encode_seconds"] = time.perf_counter() - started

    step = time.perf_counter()
    node, levels, outliers = _global(lattice, rows, policy, victims.height)
    timings["global_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    levels = specialize(lattice, rows, levels, np.ones(levels.shape[0], dtype=bool))
    _verify(lattice, rows, levels)
    timings["local_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    record_part = rows.part[_record_rows(lattice, rows)]
    kept = record_part >= 0
    top = lattice.heights.copy()
    record_levels = np.where(kept[:, None], levels[np.maximum(record_part, 0)], top)
    del record_part
    labels = np.empty(leaf_codes.shape, dtype=np.uint32)
    for j, q in enumerate(qis):
        labels[:, j] = hierarchies[q].table[record_levels[:, j], leaf_codes[:, j]]
    below = (record_levels[kept] < node).any(axis=1)
    above = (record_levels[kept] > node).any(axis=1)
    timings["labels_seconds"] = time.perf_counter() - step
    generalization = _node_names(node, qis, hierarchies)
    return Recoding(
        kept=kept,
        labels=labels,
        node=node,
        generalization=generalization,
        method={
            "global_generalization": generalization,
            "outliers_of_global_generalization": outliers,
            "records_finer_than_global": int(below.sum()),
            "records_coarser_than_global": int(above.sum()),
            "nodes_in_lattice": len(lattice.nodes),
            "nodes_evaluated": lattice.evaluations,
        },
        timings=timings,
    )


def _lattice(
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    hierarchies: dict[str, Hierarchy],
    leaf_codes: np.ndarray,
) -> Lattice:
    sensitive = []
    if policy.l_diversity:
        sensitive = [
            victims[a].cast(pl.String).rank("dense").to_numpy().astype(np.int64) - 1
            for a in policy.l_diversity.attributes
        ]
    return Lattice(
        leaf_codes,
        [hierarchies[q] for q in policy.qi_names],
        policy.k,
        policy.l_diversity.l if policy.l_diversity else None,
        sensitive,
    )


def _global(
    lattice: Lattice, rows: Rows, policy: ReleasePolicy, records: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Step 2 and the start of 3: the global node, the levels of every partition (the
    node's classes, then the outliers' at the top), and how many records are outliers."""
    everything = np.arange(rows.count.size)
    found = lattice.search(rows, everything, math.floor(policy.suppression_limit * records))
    top = lattice.heights.copy()
    if found is None:  # fewer than k records, or l-diversity impossible even at the top
        return top, top[None, :], 0  # one empty partition: every record is deleted
    node, bad = found
    good = everything[~bad]
    ids, classes = factorize(lattice.labels(rows.tuple_[good], node))
    rows.part[good] = ids
    levels = np.tile(node, (classes, 1))
    outliers = 0
    if bad.any():
        # The outliers start at the top node, as one partition, and specialize below.
        rows.part[everything[bad]] = classes
        levels = np.vstack([levels, top])
        outliers = int(rows.count[bad].sum())
        if not protect_outliers(lattice, rows, classes, outliers, policy):
            rows.part[rows.part == classes] = -1
    return node, levels, outliers


def anonymize(
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> Anonymization:
    """k-anonymize `merged.victims` per the policy; see the module docstring.

    Builds the whole release table in memory: for big inputs, `recode` a narrow frame
    and write the table with SQL (`release.candidate` does).
    """
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    _check_columns(victims, standard)
    recoding = recode(victims, policy, standard=standard, hierarchies=hierarchies)
    timings = dict(recoding.timings)
    step = time.perf_counter()
    kept = pl.Series(recoding.kept)
    replaced = qi_columns(policy, hierarchies, recoding.labels)
    frame = pl.DataFrame(
        [replaced[c] if c in replaced else victims[c] for c in policy.release_columns(standard)]
    ).filter(kept)
    # Row order must not carry the input order (delivery order can follow dates):
    # order by a hash of the row's content.
    frame = frame.sort(frame.hash_rows(seed=0), maintain_order=True)
    timings["frame_seconds"] = time.perf_counter() - step

    step = time.perf_counter()
    figures = release_figures_of(frame, victims, policy, recoding, standard, hierarchies)
    timings["figures_seconds"] = time.perf_counter() - step
    timings["total_seconds"] = sum(timings.values())
    return Anonymization(
        frame=frame,
        figures=figures,
        generalization=recoding.generalization,
        records_total=recoding.records_total,
        records_deleted=int((~recoding.kept).sum()),
        nodes_evaluated=recoding.method["nodes_evaluated"],
        timings=timings,
    )


def figure_columns(policy: ReleasePolicy) -> list[str]:
    """The input columns the figures read besides the quasi-identifiers."""
    return [a for a in policy.sensitive_attributes if a not in policy.qi_names]


def release_figures_of(
    published: pl.DataFrame,
    victims: pl.DataFrame,
    policy: ReleasePolicy,
    recoding: Recoding,
    standard: Standard,
    hierarchies: dict[str, Hierarchy],
) -> dict:
    """Figures of a release: `published` needs the published QI (and region) columns and
    `figure_columns` of the kept records, `victims` the QIs and `figure_columns` of all."""
    figures = side_by_side(published, victims, policy, standard=standard, hierarchies=hierarchies)
    figures["method"] = recoding.method
    return figures


def qi_columns(
    policy: ReleasePolicy,
    hierarchies: dict[str, Hierarchy],
    labels: np.ndarray,
    *,
    as_enum: bool = False,
) -> dict[str, pl.Series]:
    """Published QI (and region) columns as strings (or, compact, as Enums of the same
    values), from label codes of some records."""
    replaced: dict[str, pl.Series] = {}
    for j, q in enumerate(policy.qi_names):
        indices = pl.Series(labels[:, j], dtype=pl.UInt32)
        for column, strings in label_strings(hierarchies[q]).items():
            if as_enum:
                strings = strings.cast(pl.Enum(strings.unique().sort()))
            replaced[column] = strings.gather(indices)
    return replaced


def label_strings(hierarchy: Hierarchy) -> dict[str, pl.Series]:
    """Each published column of a hierarchy: its string by label code."""
    return {
        column: pl.Series(column, [o[position] for o in hierarchy.outputs], pl.String)
        for position, column in enumerate(hierarchy.columns)
    }


def _check_columns(victims: pl.DataFrame, standard: Standard) -> None:
    missing = [c for c in standard.columns if c not in victims.columns]
    if missing:
        raise AnonymizationError(f"victims lacks standard columns: {', '.join(missing)}")


def _check_input(victims: pl.DataFrame, qis: list[str]) -> None:
    missing = [c for c in qis if c not in victims.columns]
    if missing:
        raise AnonymizationError(f"victims lacks quasi-identifiers: {', '.join(missing)}")
    nulls = [c for c in qis if victims[c].null_count()]
    if nulls:
        raise AnonymizationError(
            f"quasi-identifiers with empty cells (the standard uses -99): {', '.join(nulls)}"
        )


def _encode(column: pl.Series, hierarchy: Hierarchy) -> np.ndarray:
    """Leaf codes of a QI column; values outside the standard are an error."""
    mapping = {leaf: i for i, leaf in enumerate(hierarchy.leaves)}
    if isinstance(column.dtype, pl.Enum):  # map the categories, not every cell
        categories = column.dtype.categories.replace_strict(
            mapping, default=-1, return_dtype=pl.Int32
        )
        codes = categories.gather(column.to_physical()).rename(column.name)
    else:
        codes = column.cast(pl.String).replace_strict(mapping, default=-1, return_dtype=pl.Int32)
    unknown = (codes == -1).arg_true()
    if unknown.len():
        rows = ", ".join(str(r + 1) for r in unknown.head(5).to_list())
        raise AnonymizationError(
            f"{column.name}: {unknown.len()} values outside the standard (rows {rows}, ...)"
        )
    return codes.to_numpy()


def _record_rows(lattice: Lattice, rows: Rows) -> np.ndarray:
    """The working row of every record (records of a split tuple fill its rows in turn)."""
    by_tuple = np.argsort(lattice.record_tuple, kind="stable")
    row_order = np.argsort(rows.tuple_, kind="stable")
    record_row = np.empty(lattice.record_tuple.size, dtype=np.int64)
    record_row[by_tuple] = np.repeat(row_order, rows.count[row_order])
    return record_row


def _verify(lattice: Lattice, rows: Rows, levels: np.ndarray) -> None:
    """Defence in depth: k (and l) on the published label codes of the kept rows."""
    kept = np.flatnonzero((rows.part >= 0) & (rows.count > 0))
    if kept.size == 0:
        return
    tuples = rows.tuple_[kept]
    ids, classes = factorize(lattice.labels(tuples, levels[rows.part[kept]]))
    size = np.bincount(ids, weights=rows.count[kept])
    if size.min() < lattice.k:
        raise AnonymizationError(f"internal error: a class of {int(size.min())} < k")
    if (
        lattice.l_value is not None
        and lattice.distinct_per_group(tuples, ids, classes).min() < lattice.l_value
    ):
        raise AnonymizationError("internal error: a class is not l-diverse")


def _node_names(node: np.ndarray, qis: list[str], hierarchies: dict[str, Hierarchy]) -> dict:
    return {q: hierarchies[q].level_names[int(lv)] for q, lv in zip(qis, node, strict=True)}

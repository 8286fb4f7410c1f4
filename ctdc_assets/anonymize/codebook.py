"""What the published codebook needs beyond the standard: generalized forms and region columns.

Derived from the policy's hierarchies, which derive from the standard, so the
codebook, the datapackage and the release audit all read one source.
`release_values` is the complete value set of every published column; the audit
checks the release against it and the lead's datapackage can use it as enums.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ctdc_assets.anonymize.hierarchies import GeneralizedValue, Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy_model import REGION_SUFFIXES, ReleasePolicy
from ctdc_assets.standard import Standard, load_standard

SUPPRESSED_LABEL = (
    "Withheld to protect privacy: suppressed, or (a country) generalized, in which case the "
    "region columns keep its sub-region or region"
)
_REGION_LEVEL = {suffix: level for level, suffix in REGION_SUFFIXES.items()}


@dataclass(frozen=True)
class CodebookValue:
    code: str
    label: str


@dataclass(frozen=True)
class RegionColumn:
    """A published column added by the release: the UN region of a country column."""

    name: str
    derived_from: str
    level: str  # "subregion" or "region"
    description: str
    values: tuple[CodebookValue, ...]


@dataclass(frozen=True)
class CodebookExtension:
    """Generalized forms of the quasi-identifiers and the region columns of the release."""

    k: int
    suppressed_value: str
    suppressed_label: str
    release_columns: tuple[str, ...]  # published order
    string_columns: tuple[str, ...]  # published as text although the standard types them
    quasi_identifiers: tuple[str, ...]  # every column k is computed on
    hierarchies: dict[str, tuple[str, ...]]  # qi -> level names, original first
    generalized_values: dict[str, tuple[GeneralizedValue, ...]]  # column -> extra codes
    region_columns: tuple[RegionColumn, ...]

    def as_dict(self) -> dict:
        """JSON-serialisable form (manifest, datapackage)."""
        return asdict(self)


def codebook_extension(
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> CodebookExtension:
    """Everything the codebook generator adds to the standard for a release."""
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    generalized: dict[str, list[GeneralizedValue]] = {}
    regions: list[RegionColumn] = []
    for qi, hierarchy in hierarchies.items():
        generalized[qi] = [g for g in hierarchy.generalized if g.column == qi]
        for column in hierarchy.columns[1:]:
            level = next(lv for s, lv in _REGION_LEVEL.items() if column.endswith(s))
            names = sorted(hierarchy.values(column) - _specials(standard, policy))
            covers = {g.code: g.covers for g in hierarchy.generalized if g.column == column}
            regions.append(
                RegionColumn(
                    name=column,
                    derived_from=qi,
                    level=level,
                    description=(
                        f"UN M49 {level} of {qi} (from country_converter), published for every "
                        f"record so regional counts stay complete when {qi} is generalized. "
                        f"{standard.unknown_country} when the country is unknown, "
                        f"{standard.missing_code} when not recorded, "
                        f"{policy.suppressed_value} when withheld."
                    ),
                    values=(
                        *(
                            CodebookValue(
                                name,
                                f"UN M49 {level} {name} ({len(covers.get(name, ()))} country codes)"
                                if covers.get(name)
                                else name,
                            )
                            for name in names
                        ),
                        CodebookValue(standard.unknown_country, "Country not known"),
                        CodebookValue(standard.missing_code, "Not recorded"),
                        CodebookValue(policy.suppressed_value, SUPPRESSED_LABEL),
                    ),
                )
            )
    return CodebookExtension(
        k=policy.k,
        suppressed_value=policy.suppressed_value,
        suppressed_label=SUPPRESSED_LABEL,
        release_columns=tuple(policy.release_columns(standard)),
        string_columns=tuple(policy.release_qi_columns),
        quasi_identifiers=tuple(policy.release_qi_columns),
        hierarchies={qi: h.level_names for qi, h in hierarchies.items()},
        generalized_values={qi: tuple(values) for qi, values in generalized.items()},
        region_columns=tuple(regions),
    )


def release_values(
    policy: ReleasePolicy,
    *,
    standard: Standard | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> dict[str, set[str] | None]:
    """Every value each published column may hold, as text.

    None for list columns: their cells are labels joined by the list's separator,
    checked label by label against `Standard.list_labels`.
    """
    standard = standard or load_standard()
    hierarchies = hierarchies or build_hierarchies(policy, standard)
    values: dict[str, set[str] | None] = {}
    for hierarchy in hierarchies.values():
        for column in hierarchy.columns:
            values[column] = hierarchy.values(column)
    for column in standard.columns:
        if column not in values:
            var = standard.variable(column)
            values[column] = None if var.type == "list" else standard.allowed_values(column)
    return {c: values[c] for c in policy.release_columns(standard)}


def _specials(standard: Standard, policy: ReleasePolicy) -> set[str]:
    return {standard.unknown_country, standard.missing_code, policy.suppressed_value}

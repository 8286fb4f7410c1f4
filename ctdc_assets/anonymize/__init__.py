"""The k-anonymized release: policy, hierarchies, engine, figures and the independent audit.

`audit` never imports `engine`: the gates recompute everything from the release table.
"""

from ctdc_assets.anonymize.audit import (
    AuditFinding,
    audit_release,
    failures,
    k_anonymity,
    l_diversity,
)
from ctdc_assets.anonymize.codebook import CodebookExtension, codebook_extension, release_values
from ctdc_assets.anonymize.policy import LDiversity, PolicyError, ReleasePolicy, load_policy

__all__ = [
    "AuditFinding",
    "CodebookExtension",
    "LDiversity",
    "PolicyError",
    "ReleasePolicy",
    "audit_release",
    "codebook_extension",
    "failures",
    "k_anonymity",
    "l_diversity",
    "load_policy",
    "release_values",
]

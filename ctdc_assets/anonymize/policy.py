"""The release policy (`release_policy.yaml`): what the published file must satisfy.

The policy is data, like the standard: k, the quasi-identifiers with their
generalization hierarchies and weights, optional l-diversity and the suppression
limit. `load_policy` validates it against the standard, so a typo in a column name
or a cut point that splits an age band fails at load time rather than in a release.

The models live in `policy_model` (the hierarchies build on them, and this module
builds the hierarchies to validate a file); they are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ctdc_assets.anonymize.hierarchies import build_hierarchies
from ctdc_assets.anonymize.policy_model import (
    REGION_SUFFIXES,
    LDiversity,
    Level,
    PolicyError,
    QuasiIdentifier,
    ReleasePolicy,
    StatisticsPolicy,
)
from ctdc_assets.standard import load_standard

__all__ = [
    "REGION_SUFFIXES",
    "LDiversity",
    "Level",
    "PolicyError",
    "QuasiIdentifier",
    "ReleasePolicy",
    "StatisticsPolicy",
    "load_policy",
    "parse_policy",
]


def load_policy(path: Path) -> ReleasePolicy:
    """Read and validate a release policy YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    return parse_policy(text, source=path)


def parse_policy(text: str, *, source: Path | str) -> ReleasePolicy:
    """Validate a release policy's YAML text (`source` names it in errors)."""
    try:
        policy = ReleasePolicy.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise PolicyError(f"{source}: {exc}") from exc
    try:
        policy.validate_against(load_standard())
        build_hierarchies(policy)  # cut points that split a band, regions of every country
    except (PolicyError, ValueError) as exc:
        raise PolicyError(f"{source}: {exc}") from exc
    return policy

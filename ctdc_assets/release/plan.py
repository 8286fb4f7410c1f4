"""The release plan: the policy, the standard and the hierarchies, loaded and checked
once per run.

The candidate, its gate, the statistics, their gate and publication are all handed the
same plan (the `release_plan` resource), so a policy edited while a run is under way
cannot give the candidate one k and its gate another: the edit applies from the next
run. `ctdc verify` loads its own copy from the release folder: it must stay independent
of the pipeline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ctdc_assets.anonymize.hierarchies import Hierarchy, build_hierarchies
from ctdc_assets.anonymize.policy import ReleasePolicy, parse_policy
from ctdc_assets.standard import Standard, load_standard
from ctdc_assets.statistics.cellkey import CellKeyParams


@dataclass(frozen=True)
class ReleasePlan:
    policy: ReleasePolicy
    standard: Standard
    hierarchies: dict[str, Hierarchy]
    policy_sha256: str  # of the text the policy was read from, for the manifest

    @classmethod
    def load(cls, policy_file: Path) -> ReleasePlan:
        text = policy_file.read_text(encoding="utf-8")
        policy = parse_policy(text, source=policy_file)
        standard = load_standard()
        return cls(
            policy=policy,
            standard=standard,
            hierarchies=build_hierarchies(policy, standard),
            policy_sha256=hashlib.sha256(text.encode()).hexdigest(),
        )

    @property
    def k(self) -> int:
        return self.policy.k

    @property
    def cell_key(self) -> CellKeyParams | None:
        """The ptable's parameters when the policy asks for the cell-key method: no
        published count below k, so the small-count threshold is k - 1."""
        stats = self.policy.statistics
        if stats.method != "cell_key":
            return None
        return CellKeyParams(stats.max_deviation, stats.variance, threshold=self.policy.k - 1)

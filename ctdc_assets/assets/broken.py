"""The assets of a contributor whose crosswalk does not load.

One typo in one crosswalk must not stop the code location: the contributor keeps its
`raw` and `harmonized` assets (so the lineage and its history stay), each described by
the error (file, line, key) and failing with it when materialized, and every other
contributor runs. `merged/victims` keeps the contributor's last harmonized table, which
passed its gates, until the crosswalk is fixed.
"""

import dagster as dg

from ctdc_assets.assets.contributors import harmonized_key, raw_key
from ctdc_assets.crosswalk import CrosswalkError
from ctdc_assets.warehouse import POOL


def build_broken_contributor_assets(
    contributor: str, error: CrosswalkError
) -> list[dg.AssetsDefinition]:
    message = str(error)
    assets = []
    for key, group in ((raw_key(contributor), "raw"), (harmonized_key(contributor), "harmonized")):

        @dg.asset(
            key=key,
            deps=[raw_key(contributor)] if group == "harmonized" else [],
            group_name=group,
            pool=POOL,
            kinds={"duckdb"},
            description=f"BROKEN CROSSWALK: not loaded until it is fixed.\n\n{message}",
            metadata={"crosswalk_error": dg.MetadataValue.text(message)},
            tags={"ctdc/crosswalk": "broken"},
        )
        def broken(context: dg.AssetExecutionContext) -> None:
            raise dg.Failure(  # one line: `ctdc run` prints a failure's first line
                description=" ".join(line.strip() for line in message.splitlines()),
                allow_retries=False,
            )

        assets.append(broken)
    return assets

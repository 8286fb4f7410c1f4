"""The assets of a contributor that cannot run: its crosswalk does not load, or its raw
suite is missing.

One typo in one crosswalk must not stop the code location: the contributor keeps its
`raw` and `harmonized` assets (so the lineage and its history stay), each described by
the reason (file, line, key) and failing with it when materialized, and every other
contributor runs. `merged/victims` keeps the contributor's last harmonized table, which
passed its gates, until it is fixed.
"""

import dagster as dg

from ctdc_assets.assets.keys import harmonized_key, raw_key
from ctdc_assets.assets.resources import POOL


def build_not_ready_assets(contributor: str, message: str) -> list[dg.AssetsDefinition]:
    assets = []
    for key, group in ((raw_key(contributor), "raw"), (harmonized_key(contributor), "harmonized")):

        @dg.asset(
            key=key,
            deps=[raw_key(contributor)] if group == "harmonized" else [],
            group_name=group,
            pool=POOL,
            kinds={"duckdb"},
            description=f"NOT READY: does not run until this is fixed.\n\n{message}",
            metadata={"not_ready": dg.MetadataValue.text(message)},
            tags={"ctdc/ready": "no"},
        )
        def broken(context: dg.AssetExecutionContext) -> None:
            raise dg.Failure(  # one line: `ctdc run` prints a failure's first line
                description=" ".join(line.strip() for line in message.splitlines()),
                allow_retries=False,
            )

        assets.append(broken)
    return assets

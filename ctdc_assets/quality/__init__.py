"""Quality gates: Great Expectations suites run on Polars tables, reported to Dagster.

`bridge.run_suite` validates a table against a suite JSON and returns a `GateResult`
(`.to_check_result()` for a blocking asset check, `.to_markdown()` for the report);
`suites` generates the harmonized and merged suites from the standard; `report`
writes the release's quality report; `gx_process` runs GX itself in a process of its
own, started early (`gx_process.start()`) so its import overlaps a run's start-up.

Nothing is imported here: `ctdc run` and the GX process import `gx_process` first
thing, and the bridge (Polars) would delay GX's start by ~0.2 s in both.
"""

"""Quality gates: Great Expectations suites run on Polars tables, reported to Dagster.

`evaluate.run_suite` validates a table against a suite (`suite_model.load_suite`) and
returns a `results.GateResult` (`.to_check_result()` for a blocking asset check,
`.to_markdown()` for the report); `prepare` shows GX a table's distinct values and
`interpret` counts GX's verdicts in rows. `suites` generates the harmonized and merged
suites from the standard, `gates` runs them for the Dagster checks; `report` writes the
release's quality report; `gx_executor` runs GX itself in a worker process of its own,
started early (`gx_executor.shared().start()`) so its import overlaps a run's start-up.

Nothing is imported here: `ctdc run` imports `gx_executor` first thing, and the
bridge (Polars) would delay GX's start by ~0.2 s.
"""

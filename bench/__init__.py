"""Benchmark: the pipeline's per-step and end-to-end time and memory, against a floor.

    make bench                           # 92,000 records
    make bench ARGS="--records 1000000"  # also 10000000

What it does, in a fresh temporary deployment (data folder, warehouse, Dagster
instance), each phase in its own process so its time and peak memory are its own:

1. `generate`: the project's sample generator writes the three deliveries.
2. `floor`: DuckDB alone reads every delivery and writes one merged table with a plain
   query (`CREATE TABLE ... AS SELECT ... UNION ALL BY NAME ...`), into an encrypted
   DuckDB file like the warehouse: the least any pipeline on this machine could spend.
3. `full`: a cold `ctdc run` (the command users run: interpreter start, imports, a new
   instance, every asset and every check, publication included), selection `*`.
4. `incremental`: a newer hotline delivery (1 % more records) lands, then a cold
   `ctdc run --select 'key:"raw/hotline"+ and not key:"release/*"'`: what the issue
   measures, the time for one contributor's delivery to reach a new `merged` and new
   statistics (raw, harmonized, merged, aggregates, dashboard, with their gates). The
   release candidate refreshes after them; publication follows the release schedule.

With `--repeat N` (default 3 up to 200,000 records, where a run takes seconds and this
virtual machine's speed varies by a fifth between identical runs), phases 3 and 4 run N
times, each round in a fresh deployment on the same deliveries; the report gives every
round and takes the median full run and the median incremental run.

Per-step wall times come from the Dagster instance's step stats of each run; peak
memory is the larger of the child's peak resident set size (`wait4` rusage, i.e. the
kernel's own high-water mark) and its process tree's summed RSS, sampled every 0.1 s
(a run is two processes: the run, and Great Expectations'). CPU time
(user + system) is recorded too: on a shared machine it is steadier than wall time.

Results go to `bench/results/<date>-<records>.json` and `.md` (a Markdown table; the
README's Performance section quotes them).
"""

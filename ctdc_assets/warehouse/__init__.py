"""The warehouse I/O layer: the only code that knows where tables live and how they are
read and written.

- `database`: the encrypted DuckDB file, attached per use (Dagster-free);
- `tables`: the name of every table, written once;
- `bounded`: reading and writing big tables in bounded memory;
- `audit`: the rows the gates read besides the tables (counts, unmapped values, findings).

Domain packages take a connection and names from here; the Dagster resource that
hands out connections is `ctdc_assets.assets.resources.Warehouse`.
"""

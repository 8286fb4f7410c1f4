"""Aggregate statistics on the full data, small-cell protected, and the dashboard.

`compute_aggregates` -> protected tables (their shape: `aggregates.py`), `audit_tables`
-> an independent check of those tables (`audit.py`, which never imports the
suppression code), `render_dashboard` -> one self-contained HTML file.
"""

from ctdc_assets.statistics.aggregates import compute_aggregates
from ctdc_assets.statistics.audit import Finding, audit_tables

__all__ = ["Finding", "audit_tables", "compute_aggregates"]

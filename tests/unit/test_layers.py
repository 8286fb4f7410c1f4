"""The layers hold: domain code knows neither Dagster nor the assets, and only the
warehouse I/O layer spells a table's name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ctdc_assets.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ctdc_assets"
#: Packages that must run without Dagster (the domain, and the I/O layer under it).
DAGSTER_FREE = ("anonymize", "crosswalk", "onboarding", "release", "statistics", "warehouse")
SCHEMAS = "raw|harmonized|merged|release|statistics|statistics_meta|audit"
TABLE_IN_SQL = re.compile(rf"\b(FROM|INTO|TABLE|JOIN|EXISTS)\s+({SCHEMAS})\.([A-Za-z_\"]|$)")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", DAGSTER_FREE)
def test_domain_packages_import_neither_dagster_nor_the_assets(package: str) -> None:
    offending = {
        f"{path.relative_to(PROJECT_ROOT)}: {module}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for module in _imports(path)
        if module.split(".")[0] == "dagster"
        or module.startswith("ctdc_assets.assets")
        or module in {"ctdc_assets.definitions", "ctdc_assets.automation", "ctdc_assets.runner"}
    }
    assert not offending, "the domain reaches up into the Dagster layer:\n" + "\n".join(
        sorted(offending)
    )


def _spelled_tables(source: str) -> list[tuple[int, str]]:
    """(line, match) for each string (or f-string part) that names a table in SQL."""
    return [
        (node.lineno, match[0])
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if (match := TABLE_IN_SQL.search(node.value))
    ]


def test_no_table_name_is_written_outside_the_warehouse_layer() -> None:
    offending = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.is_relative_to(PACKAGE / "warehouse") and "sample_data" not in path.parts
        for line, text in _spelled_tables(path.read_text(encoding="utf-8"))
    ]
    assert not offending, "table names belong in ctdc_assets/warehouse/tables.py:\n" + "\n".join(
        offending
    )


def test_the_check_catches_a_spelled_table_name() -> None:
    """The search the test above relies on finds the forms the code used to write."""
    spelled = [
        'con.execute("SELECT count(*) FROM release.candidate")',
        'con.execute(f"SELECT * FROM harmonized.{contributor}")',
        """con.execute(f"INSERT INTO audit.unmapped SELECT '{contributor}', * FROM _u")""",
        """con.execute(f'CREATE TABLE statistics."{name}" AS SELECT 1')""",
    ]
    for source in spelled:
        assert _spelled_tables(source), source
    assert not _spelled_tables('con.execute(f"SELECT * FROM {MERGED} JOIN {harmonized(c)}")')

"""Only ``livewatch/state/`` touches the table definitions: every other stage goes through a store."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "livewatch"


def imports_tables(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == "livewatch.state.tables":
                return True
            if node.module == "livewatch.state" and any(alias.name == "tables" for alias in node.names):
                return True
        if isinstance(node, ast.Import) and any(alias.name == "livewatch.state.tables" for alias in node.names):
            return True
    return False


def test_no_module_outside_state_imports_the_tables() -> None:
    found = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
             if path.relative_to(PACKAGE).parts[0] != "state"
             and imports_tables(ast.parse(path.read_text(encoding="utf-8"), str(path)))}
    assert not found, f"these modules import livewatch.state.tables; give them a store instead: {sorted(found)}"


def test_the_check_sees_every_form_of_the_import() -> None:
    for source in ("from livewatch.state import tables", "from livewatch.state import DataDir, tables",
                   "from livewatch.state.tables import runs", "import livewatch.state.tables"):
        assert imports_tables(ast.parse(source)), source
    assert not imports_tables(ast.parse("from livewatch.state import DataDir"))

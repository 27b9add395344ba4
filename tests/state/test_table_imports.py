"""Only ``livewatch/state/`` touches the table definitions: every other stage goes through a store."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "livewatch"
#: Store implementations that still live beside their interface instead of in state/ (the work queue's
#: back-ends, queue/sqlite.py and queue/postgresql.py). Nothing may join this list.
STILL_OUTSIDE = {"queue/sqlite.py", "queue/postgresql.py"}


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
    strays = sorted(found - STILL_OUTSIDE)
    assert not strays, f"these modules import livewatch.state.tables; give them a store instead: {strays}"


def test_the_check_sees_every_form_of_the_import() -> None:
    for source in ("from livewatch.state import tables", "from livewatch.state import DataDir, tables",
                   "from livewatch.state.tables import runs", "import livewatch.state.tables"):
        assert imports_tables(ast.parse(source)), source
    assert not imports_tables(ast.parse("from livewatch.state import DataDir"))

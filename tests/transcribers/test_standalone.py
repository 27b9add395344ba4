"""transcribers/ is a standalone package: the dependency runs one way, livewatch imports it, never back."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):  # walk: imports inside functions and TYPE_CHECKING blocks count too
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_nothing_under_transcribers_imports_livewatch() -> None:
    files = sorted((REPO / "transcribers").rglob("*.py"))
    assert len(files) >= 8
    offending = [f"{path.relative_to(REPO)}:{line} imports {module}"
                 for path in files for line, module in _imported_modules(path)
                 if module == "livewatch" or module.startswith("livewatch.")]
    assert not offending, "\n".join(offending)


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import livewatch.errors\nfrom livewatch import settings\n"
                      "def later():\n    from livewatch.plugins import Registry\n"
                      "importlib.import_module('livewatch.x')\n", encoding="utf-8")
    assert [module for _, module in _imported_modules(sample)] == [
        "livewatch.errors", "livewatch", "livewatch.plugins", "livewatch.x"]

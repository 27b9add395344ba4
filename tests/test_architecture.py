"""The dependency rules of docs/architecture.md, checked on the source: data flows one way, the rules stay
pure (facts in, findings out), the messages depend on nothing, and only state/ knows the database."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "livewatch"

#: What each folder may import from livewatch, besides itself (imports for type checking only are free:
#: they cost nothing at run time and cannot make a cycle).
MAY_IMPORT = {
    "pipeline": {"errors", "fields"},
    "queue": {"plugins"},
    # screen: readers, change detection, appearances; pure library code over the screen messages.
    "screen": {"errors", "pipeline", "plugins"},
    "rules": {"errors", "fields", "issues", "chinese", "pipeline", "plugins", "registration", "sourcemap",
              "textcut", "validation"},
    # queue: the work-queue port (queue/base.py) that state/work_queue*.py implement; queue/ imports no state/.
    "state": {"errors", "fields", "pipeline", "queue", "registration"},
}


def _runtime_imports(tree: ast.Module) -> set[str]:
    """The livewatch top-level modules or folders a module imports outside ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "livewatch":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("livewatch."))
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    visit([n for n in inner if isinstance(n, ast.stmt)] +
                          [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body])

    visit(tree.body)
    return found


def test_each_folder_imports_only_what_it_may() -> None:
    broken = []
    for folder, allowed in MAY_IMPORT.items():
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            extra = _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))) - allowed - {folder}
            if extra:
                broken.append(f"{path.relative_to(PACKAGE)} imports {sorted(extra)}")
    assert not broken, "\n".join(broken)


def test_the_check_sees_imports_and_skips_type_checking_blocks() -> None:
    source = ("from typing import TYPE_CHECKING\nfrom livewatch.state import tables\nimport livewatch.capture.hls\n"
              "if TYPE_CHECKING:\n    from livewatch.monitor import Monitor\n"
              "def f() -> None:\n    from livewatch.reports import render\n")
    found = _runtime_imports(ast.parse(source))
    assert {"state", "capture"} <= found
    assert "monitor" not in found

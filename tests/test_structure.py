"""The package's layers import one way (issue 17: two import circles were found in the graph): no two subpackages
import each other, and the store imports no reader, runner or statistic. Function-level imports count;
``if TYPE_CHECKING:`` blocks do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import auditor

ROOT = Path(auditor.__file__).parent


def _imports() -> dict[str, set[str]]:
    """module -> modules it imports from inside the package (relative imports resolved)."""
    out: dict[str, set[str]] = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mod = ".".join(parts[:-1] if is_pkg else parts)
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        tree = ast.parse(p.read_text(encoding="utf-8"))
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.level and id(n) not in skip:
                base = pkg[:len(pkg) - (n.level - 1)]
                out.setdefault(mod, set()).add(".".join(base + ([n.module] if n.module else [])))
    return out


def _layer(mod: str) -> str:
    return ".".join(mod.split(".")[:2])


def test_no_two_subpackages_import_each_other():
    edges: dict[str, set[str]] = {}
    for a, bs in _imports().items():
        for b in bs:
            if _layer(a) != _layer(b):
                edges.setdefault(_layer(a), set()).add(_layer(b))
    cycles = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ()))
    assert not cycles, cycles
    assert "auditor.store" in edges["auditor.ingest"] and "auditor.store" in edges["auditor.judge"]  # one way


def test_the_store_imports_no_reader_runner_or_statistic():
    used = {_layer(b) for a, bs in _imports().items() if _layer(a) == "auditor.store" for b in bs}
    assert used <= {"auditor.store", "auditor._text", "auditor.errors", "auditor.rubric"}, used

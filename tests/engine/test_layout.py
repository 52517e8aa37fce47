"""The engine as a maintainer reads it: modules of one job (at most 300 lines), no module-level state that changes,
no import circle, and no lesson anywhere in it."""

from __future__ import annotations

import ast
import pathlib

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "engine"
MODULES = sorted(p for p in ENGINE.rglob("*.py") if "build" not in p.parts and p.name != "setup.py")
MAX_LINES = 300


def _name(path: pathlib.Path) -> str:
    parts = path.relative_to(ENGINE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_engine_module_is_at_most_300_lines():
    long = {str(p.relative_to(ENGINE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_engine_module_rebinds_module_state():
    """No ``global`` statement: state is passed in objects (a grading's ``safeguards.Grading``), not kept in modules."""
    found = [f"{p.relative_to(ENGINE)}:{node.lineno}" for p in MODULES for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Global)]  # fmt: skip
    assert not found, found


def test_the_engine_imports_no_lesson_and_has_no_import_circle():
    names = {_name(p): p for p in MODULES}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                       for n in ast.walk(block)}  # fmt: skip  (imports for annotations only: no import at run time)
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            assert not any(t.endswith("_lesson") or "_lesson." in t for t in targets if t), (name, targets)
            edges.update(t for t in targets if t in names and t != name)

    def circle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    circles = [c for name in graph if (c := circle_from(name))]
    assert not circles, circles[0]

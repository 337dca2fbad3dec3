"""What the ports and the store may pull in, read from the imports in the source (no interpreter
is started: unit tests are hermetic, and this process has numpy loaded by other tests anyway)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harness

ROOT = Path(harness.__file__).parent


def _module_file(name: str) -> Path | None:
    """The file of a harness module (a package's __init__), None for anything outside harness."""
    if name != "harness" and not name.startswith("harness."):
        return None
    base = ROOT.parent / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every module `path` imports at its top level or in a function (TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from harness.x import y`, y a module
    return found


def reach(start: str) -> set[str]:
    """Every module `start` imports, directly or through other harness modules."""
    seen, todo = set[str](), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is not None:
            todo.extend(_imports(path))
            parent = name.rpartition(".")[0]
            if parent:
                todo.append(parent)  # importing harness.a.b runs harness/a/__init__.py first
    return seen


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names} | {n for n in names if n.startswith("harness.")}


def test_the_walker_sees_what_telemetry_imports() -> None:
    """The check below could pass by reading nothing: telemetry does import numpy."""
    assert "numpy" in _top(reach("harness.telemetry"))


@pytest.mark.parametrize(
    ("module", "never"),
    [
        ("harness.ports", {"numpy", "docker", "git", "pynvml", "sqlite3", "harness.store", "harness.telemetry"}),
        ("harness.model", {"numpy", "harness.config", "harness.promotion"}),
        ("harness.store", {"numpy", "harness.promotion", "harness.ports", "docker", "git"}),
        ("harness.ops.promote", {"docker", "git", "numpy"}),
        ("harness.ops.deploy", {"docker", "git", "numpy"}),
    ],
)
def test_a_module_does_not_reach(module: str, never: set[str]) -> None:
    reached = _top(reach(module))
    assert module in reached or module.split(".")[0] in reached
    assert reached & never == set(), f"{module} reaches {sorted(reached & never)}"

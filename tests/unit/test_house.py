"""The house rules, read from the code's own imports and definitions (no import is run:
unit tests are hermetic, and this process has numpy loaded by other tests anyway).

They keep the shape issue 14 gave the package: no import circle, one gateway per outside
system, ports and the store free of heavy or higher modules, a CLI whose command modules never
import back up, a runner that stays standard-library only, and no function too long to read at
once (branches are ruff's: C901 and PLR0912 in pyproject.toml).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
SKIPPED = ("sample/upstream", "sample/wrapper_template")  # a fake upstream's and wrapper's code, not harness's
MAX_LINES = 60
COMMIT_STACK = {"torch"}  # the runner may import the commit's own torch, inside the image, lazily
GATEWAYS = {
    "docker": "adapters",
    "git": "adapters",
    "pynvml": "adapters",
    "av": "adapters",
    "prometheus_client": "adapters",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if any(part in str(rel) for part in SKIPPED):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _typing_only(tree: ast.Module) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: imported for mypy only, never when the module runs."""
    return {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }


def _imported(path: Path, name: str, *, typing: bool = True) -> Iterator[str]:
    """Every module name an import statement of the file names, anywhere in it (a function-level
    import ties the files together as much as a top-level one); `typing=False` leaves out the
    imports made for mypy only."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = _tree(path)
    skipped = set() if typing else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    return {
        name: {dep for dep in _imported(path, name) if dep in MODULES and dep != name} for name, path in MODULES.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_adapters_import_outside_systems() -> None:
    offenders = [
        f"{name} imports {dep}"
        for name, path in MODULES.items()
        for dep in _imported(path, name)
        if (top := dep.split(".")[0]) in GATEWAYS and not name.startswith(f"harness.{GATEWAYS[top]}")
    ]
    assert offenders == []


def test_ports_pull_in_no_numpy() -> None:
    graph, seen, todo = _graph(), set(), ["harness.ports"]
    while todo:
        if (name := todo.pop()) not in seen:
            seen.add(name)
            todo.extend(graph[name])
    heavy = sorted(
        f"{name} imports {dep}"
        for name in seen
        for dep in _imported(MODULES[name], name)
        if dep.split(".")[0] == "numpy"
    )
    assert heavy == []


def test_the_runner_imports_only_the_standard_library() -> None:
    """It is copied into images whose Python has nothing of harness's dependencies."""
    outside = sorted(
        f"{name} imports {dep}"
        for name, path in MODULES.items()
        if name.startswith("harness.runner")
        for dep in _imported(path, name)
        if dep.split(".")[0] not in sys.stdlib_module_names | COMMIT_STACK and not dep.startswith("harness.runner")
    )
    assert outside == []


def _functions() -> Iterator[tuple[str, int]]:
    for name, path in MODULES.items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{name}:{node.lineno}:{node.name}", node.end_lineno - node.lineno + 1


def test_no_function_is_too_long_to_read_at_once() -> None:
    assert [f"{where} ({lines} lines)" for where, lines in _functions() if lines > MAX_LINES] == []


def reach(start: str) -> set[str]:
    """Every module `start` imports, directly or through harness modules; importing harness.a.b
    runs harness/a/__init__.py first, so a package's parents count too."""
    seen, todo = set[str](), [start]
    while todo:
        if (name := todo.pop()) in seen:
            continue
        seen.add(name)
        if name in MODULES:
            todo.extend(_imported(MODULES[name], name))
            todo.append(name.rpartition(".")[0])
    return {n.split(".")[0] for n in seen} | {n for n in seen if n in MODULES}


def test_the_reach_sees_what_telemetry_imports() -> None:
    """The checks below could pass by reading nothing: telemetry does import numpy."""
    assert "numpy" in reach("harness.telemetry")


@pytest.mark.parametrize(
    ("module", "never"),
    [
        ("harness.ports", {"numpy", "docker", "git", "pynvml", "sqlite3", "harness.store", "harness.telemetry"}),
        ("harness.model", {"numpy", "harness.config", "harness.promotion"}),
        ("harness.store", {"numpy", "harness.promotion", "harness.ports", "docker", "git"}),
        ("harness.plan", {"docker", "git", "pynvml", "harness.store", "harness.adapters"}),
        ("harness.ops.promote", {"docker", "git", "numpy"}),
        ("harness.ops.deploy", {"docker", "git", "numpy"}),
    ],
)
def test_a_module_does_not_reach(module: str, never: set[str]) -> None:
    reached = reach(module)
    assert module in reached
    assert reached & never == set(), f"{module} reaches {sorted(reached & never)}"


CLI_BASE = {"harness.cli.app", "harness.cli.world", "harness.cli.render"}  # what command modules may use


def _cli_imports(name: str) -> set[str]:
    """The harness.cli modules `name` imports; `from harness.cli import x` is the package itself
    (its __init__ imports every command module: a command module doing so imports back up)."""
    return {dep for dep in _imported(MODULES[name], name) if dep in MODULES and dep.startswith("harness.cli")}


def test_command_modules_import_only_the_app_the_wiring_and_the_renderers() -> None:
    commands = {n for n in MODULES if n.startswith("harness.cli.")} - CLI_BASE
    assert commands == {
        "harness.cli.run",
        "harness.cli.bisect",
        "harness.cli.check",
        "harness.cli.release",
        "harness.cli.contract",
        "harness.cli.patches",
        "harness.cli.watch",
        "harness.cli.site",
    }
    assert {name: _cli_imports(name) - CLI_BASE for name in commands} == {name: set() for name in commands}


def test_app_world_and_render_import_no_command_module() -> None:
    assert {name: _cli_imports(name) for name in CLI_BASE} == {
        "harness.cli.app": set(),
        "harness.cli.render": set(),
        "harness.cli.world": {"harness.cli.app"},
    }


def test_only_the_wiring_makes_adapters() -> None:
    makers = {
        name
        for name in MODULES
        if name.startswith("harness.cli")
        and any(dep.startswith("harness.adapters") for dep in _imported(MODULES[name], name, typing=False))
    }
    assert makers == {"harness.cli.world"}

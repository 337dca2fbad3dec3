"""The CLI package's shape (harness/cli/): no import circle, adapters made in world.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import harness.cli

CLI = Path(harness.cli.__file__).parent
BASE = {"app", "world", "render"}  # what command modules may use of the package


def _imports(path: Path) -> set[str]:
    """Modules imported when the file runs (a block under `if TYPE_CHECKING:` runs only for mypy)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)  # `from harness.cli import x` runs harness/cli/__init__.py first
            if node.module == "harness.cli":
                found |= {f"harness.cli.{alias.name}" for alias in node.names}
    return found


def _package_imports(name: str) -> set[str]:
    """The harness.cli modules `name` imports (`from harness.cli import x` counts as the package too)."""
    mods = _imports(CLI / f"{name}.py")
    return {
        m.removeprefix("harness.cli.") if m != "harness.cli" else "__init__"
        for m in mods
        if m.startswith("harness.cli")
    }


def test_command_modules_import_only_the_app_the_wiring_and_the_renderers() -> None:
    commands = {p.stem for p in CLI.glob("*.py")} - BASE - {"__init__"}
    assert commands == {"run", "bisect", "check", "release"}
    for name in commands:
        assert _package_imports(name) <= BASE, name


def test_app_world_and_render_import_no_command_module() -> None:
    assert _package_imports("app") == set()
    assert _package_imports("render") == set()
    assert _package_imports("world") == {"app"}


def test_only_the_wiring_imports_adapters() -> None:
    for path in CLI.glob("*.py"):
        adapters = {m for m in _imports(path) if m.startswith("harness.adapters")}
        assert not adapters or path.stem == "world", (path.name, adapters)

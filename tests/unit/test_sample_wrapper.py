"""The synthetic wrapper's files and the upstream edits that break it, read as text and ast only."""

from __future__ import annotations

import ast

import pytest

from harness.sample.make import remove_global, rename_function, template
from harness.sample.wrapper import (
    MODEL,
    WRAPPER_CULPRIT,
    flat_output,
    frames_renamed,
    wrapper_files,
    wrapper_history,
)


def _names(text: str) -> set[str]:
    """Every name and attribute the code uses (docstrings and comments left out)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.FunctionDef):
            found.add(node.name)
    return found


def _imported_from_wgp(text: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ImportFrom) and node.module == "wgp"
        for alias in node.names
    }


def test_the_wrapper_imports_what_the_upstream_edits_take_away() -> None:
    headless = wrapper_files()["headless_wgp.py"] or ""
    assert "generate_video" in _imported_from_wgp(headless)
    stores = [
        node
        for node in ast.walk(ast.parse(headless))
        if isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "server_config"
    ]
    assert stores  # wgp.server_config[...] = ...: a global the wrapper sets


@pytest.mark.parametrize("path", ["wgp.py", "shared/api.py"])
def test_rename_leaves_no_old_name_behind(path: str) -> None:
    text = template()[path] or ""
    renamed = rename_function(text, "generate_video", "generate_media")
    assert "generate_video" in _names(text)
    assert "generate_video" not in renamed and "generate_media" in _names(renamed)


def test_removed_global_is_gone_from_the_code_and_save_path_keeps_its_value() -> None:
    files = template()
    wgp = remove_global(files["wgp.py"] or "", "server_config")
    api = remove_global(files["shared/api.py"] or "", "server_config")
    assert "server_config" not in _names(wgp) | _names(api)
    assert "save_path" in _names(wgp) and "save_path" in _names(api)
    assert 'save_path = ({"save_path": "outputs"})["save_path"]' in wgp.splitlines()


def test_a_global_that_is_not_defined_leaves_the_text_as_it_was() -> None:
    wgp = template()["wgp.py"] or ""
    assert remove_global(wgp, "no_such_global") == wgp


def test_wrapper_files_vendor_upstream_only_when_asked() -> None:
    plain = wrapper_files()
    assert {"headless_wgp.py", "run_baseline.py", "requirements.txt"} <= plain.keys()
    assert not any(path.startswith("Wan2GP/") for path in plain)
    requirements = (plain["requirements.txt"] or "").splitlines()
    assert all(not line.strip() or line.startswith("#") for line in requirements)  # builds have no network
    vendored = wrapper_files(vendored=template())
    assert vendored["Wan2GP/wgp.py"] == template()["wgp.py"]
    assert MODEL in (plain["run_baseline.py"] or "")


def test_wrapper_edits_change_what_they_say_and_refuse_a_lost_anchor() -> None:
    headless = wrapper_files()["headless_wgp.py"] or ""
    assert "wgp.FLAT_OUTPUT = True" in flat_output(headless)
    assert "num_frames=video_length" in frames_renamed(headless)
    assert "video_length=video_length" not in frames_renamed(headless)
    with pytest.raises(ValueError, match="lost"):
        frames_renamed(frames_renamed(headless))


def test_wrapper_history_breaks_at_its_culprit_and_stays_broken() -> None:
    history = wrapper_history()
    state: dict[str, str | None] = {}
    broken = []
    for _message, files in history:
        state.update(files)
        broken.append("num_frames=" in (state["headless_wgp.py"] or ""))
    assert broken.index(True) == WRAPPER_CULPRIT and all(broken[WRAPPER_CULPRIT:])

"""Hostile configs and trees (issue 13): refused or recorded with the path named, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_FAIL, EXIT_PASS, EXIT_USAGE
from harness.model import Verdict
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import Project, unique_repo
from tests.unit.test_yamlio import BILLION_LAUGHS

pytestmark = pytest.mark.integration


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, " ".join(result.output.split())


def run_json(config: Path, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["-c", str(config), *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_state_dir_root_is_refused_and_nothing_is_written_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`state_dir: /` wrote /state.db, /runs and /upstream.git."""
    write_commits(tmp_path / "upstream", [("good", template())])
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # any engine call would be 125
    config = write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("state-root"))
    config.write_text(config.read_text() + "state_dir: /\n")
    before = sorted(os.listdir("/"))
    for command in (["history"], ["build-and-test", "HEAD"], ["diff", "HEAD", "HEAD"]):
        code, output = run(config, *command)
        assert code == EXIT_USAGE, output
        assert "state_dir" in output and "system folder" in output and "Traceback" not in output
    assert sorted(os.listdir("/")) == before


def test_billion_laughs_config_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400-byte harness.yaml of nested aliases took 13.7 GB; now a usage error naming the file."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    config = tmp_path / "harness.yaml"
    config.write_text(BILLION_LAUGHS)
    code, output = run(config, "history")
    assert code == EXIT_USAGE, output
    assert "harness.yaml: (aliases)" in output and "Traceback" not in output
    assert not (tmp_path / ".harness").exists()


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=True, timeout=60).stdout


def _tree_sort_key(entry: tuple[bytes, bytes, bytes]) -> bytes:
    mode, name, _ = entry
    return name + b"/" if mode == b"40000" else name  # git's order: a folder sorts as `name/`


def _raw_tree(entries: list[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"".join(mode + b" " + name + b"\0" + sha for mode, name, sha in sorted(entries, key=_tree_sort_key))


def hostile_commit(repo: Path, name: str) -> str:
    """A commit on main whose tree also holds a file entry called `name` (`..`, `a/b`; after a
    `//`, inside that folder): git refuses to make one, so the raw tree is written `--literally`."""
    folder, _, name = name.rpartition("//")
    raw = _git(repo, "cat-file", "tree", "HEAD^{tree}")
    entries = []
    while raw:
        head, raw = raw.split(b"\0", 1)
        mode, entry_name = head.split(b" ", 1)
        entries.append((mode, entry_name, raw[:20]))
        raw = raw[20:]
    blob = _git(repo, "hash-object", "-w", "--stdin", data=b"planted\n").strip().decode()
    planted = (b"100644", name.encode(), bytes.fromhex(blob))
    if folder:
        sub = _git(repo, "hash-object", "-w", "--literally", "-t", "tree", "--stdin", data=_raw_tree([planted]))
        planted = (b"40000", folder.encode(), bytes.fromhex(sub.strip().decode()))
    write = ["hash-object", "-w", "--literally", "-t", "tree", "--stdin"]
    tree = _git(repo, *write, data=_raw_tree([*entries, planted])).strip().decode()
    sha = _git(repo, "commit-tree", tree, "-p", "HEAD", "-m", f"plant {name}").strip().decode()
    _git(repo, "update-ref", "refs/heads/main", sha)
    return sha


HOSTILE_NAMES = ["..", "a/b", "../../etc/planted", "deep//.."]


def path(name: str) -> str:
    """Where harness names the planted entry: `deep//..` is `deep/..`."""
    return name.replace("//", "/")


@pytest.fixture
def offline_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose engine does not exist: `check` and `diff` need none."""
    write_commits(tmp_path / "upstream", [("good", template())])
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    return write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("tree-names"))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_check_names_a_hostile_tree_entry(offline_config: Path, tmp_path: Path, name: str) -> None:
    sha = hostile_commit(tmp_path / "upstream", name)
    code, output = run(offline_config, "check", sha)
    assert code == EXIT_FAIL, output
    assert "no checkout may write" in output and "Traceback" not in output
    code, doc = run_json(offline_config, "check", sha)
    assert code == EXIT_FAIL and not doc["holds"]
    assert [(i["kind"], i["name"], i["status"]) for i in doc["items"]] == [("tree", path(name), "error")]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_diff_lists_a_hostile_tree_entry(offline_config: Path, tmp_path: Path, name: str) -> None:
    sha = hostile_commit(tmp_path / "upstream", name)
    code, output = run(offline_config, "diff", f"{sha}~1", sha)
    assert code == EXIT_PASS, output  # the report is made; the contract at the new commit is broken
    assert f"tree entry {path(name)!r}" in output and "BROKEN" in output and "Traceback" not in output
    code, doc = run_json(offline_config, "diff", f"{sha}~1", sha)
    assert code == EXIT_PASS
    assert [i["name"] for i in doc["contract"]["items"]] == [path(name)]
    assert ["A", path(name)] in doc["files"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_build_and_test_records_a_hostile_tree_entry_as_fail(project: Project, name: str) -> None:
    project.commit("good", template())
    sha = hostile_commit(project.upstream, name)
    code, output = project.run("build-and-test", sha)
    assert code == EXIT_FAIL, output
    assert repr(path(name)) in output and "Traceback" not in output
    [record] = project.store().runs()
    assert record.commit == sha and record.verdict is Verdict.FAIL and repr(path(name)) in record.summary
    assert not project.image_id(sha[:12])

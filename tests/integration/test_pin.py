"""`harness pin` touches only the repo it is pointed at, and its commit command works (real git)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.config import load_config
from harness.errors import EXIT_USAGE
from harness.model import Release
from harness.sample.make import template
from harness.store import Store
from tests.conftest import write_config
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # pin needs no engine
    (sha,) = write_commits(tmp_path / "upstream", [("good", template())])
    config = write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("pin"))
    store = Store(load_config(config).state_dir / "state.db")
    release = Release(
        revision=0,
        action="promote",
        image_id="sha256:" + "e" * 64,
        commit=sha,
        from_image_id="",
        run_id="r",
        created="2026-01-01T00:00:00+00:00",
        user="u",
        reason="test",
        forced=False,
        based_on=0,
    )
    store.add_release(release)
    store.close()
    return config


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def fresh_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    git(path, "config", "user.email", "pin@example.invalid")
    git(path, "config", "user.name", "pin")
    return path


def test_pin_without_repo_is_refused_and_touches_no_repo(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = fresh_repo(tmp_path / "other")
    (other / "sub").mkdir()
    monkeypatch.chdir(other / "sub")
    result = CliRunner().invoke(app, ["-c", str(config), "pin"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--repo" in result.output
    assert git(other, "status", "--porcelain") == ""
    assert git(other, "ls-files", "--stage") == ""


def test_pin_refuses_a_folder_inside_another_repo(config: Path, tmp_path: Path) -> None:
    other = fresh_repo(tmp_path / "other")
    (other / "sub").mkdir()
    result = CliRunner().invoke(app, ["-c", str(config), "pin", "--repo", str(other / "sub")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert git(other, "ls-files", "--stage") == ""


def test_the_suggested_command_commits_a_first_pin(config: Path, tmp_path: Path) -> None:
    repo = fresh_repo(tmp_path / "wrapper")
    result = CliRunner().invoke(app, ["-c", str(config), "pin", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    command = result.stdout.strip().splitlines()[-1].strip()
    assert command.startswith("git "), result.stdout
    done = subprocess.run(shlex.split(command), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    sha = Store(load_config(config).state_dir / "state.db").production()
    assert sha is not None
    tree = git(repo, "ls-tree", "HEAD")
    assert f"160000 commit {sha.commit}\tWan2GP" in tree and "STRUCTURE.md" in tree
    assert sha.commit in git(repo, "show", "HEAD:STRUCTURE.md")

"""Integration fixtures: the real Docker engine, real git repos, a CLI runner."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from typer.testing import CliRunner

from harness.adapters.engine import Engine, connect
from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.config import load_config
from harness.errors import EngineUnavailable
from harness.sample.make import Files
from harness.store import Store
from tests.browser import Browser, available, browser
from tests.conftest import BASE_IMAGE, write_config

TEST_REPO_PREFIX = "harness-test/"
# The repositories of this pytest session: teardown removes only these, never those of another
# session sharing the engine (it once removed their images mid-run, and their bisects went wrong).
SESSION_PREFIX = f"{TEST_REPO_PREFIX}{secrets.token_hex(3)}-"


def unique_repo(name: str = "t") -> str:
    """A repository of this session, distinct per call (one harness state owns a repository)."""
    return f"{SESSION_PREFIX}{name}-{secrets.token_hex(4)}"


def _unavailable(reason: str) -> None:
    # CI sets HARNESS_REQUIRE_DOCKER: there a missing engine is a failure, never a silent skip.
    if os.environ.get("HARNESS_REQUIRE_DOCKER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    eng = connect(os.environ)
    try:
        _ = eng.client
    except EngineUnavailable as exc:
        _unavailable(str(exc))
    if eng.images.image_id(BASE_IMAGE) is None:
        _unavailable(f"base image {BASE_IMAGE} missing: run scripts/setup-host.sh")
    yield eng
    # The raw listings: docker-py's images.list()/containers.list() inspect each item, and an item
    # another session removes in between raised ImageNotFound here.
    api = eng.client.api
    mine = {str(i["Id"]): [t for t in i.get("RepoTags") or [] if t.startswith(SESSION_PREFIX)] for i in api.images()}
    mine = {image_id: tags for image_id, tags in mine.items() if tags}
    for container in api.containers(all=True, filters={"label": "harness.commit"}):
        if container.get("ImageID") in mine:  # e.g. left by the kill -9 tests
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(container["Id"], force=True)
    for tags in mine.values():
        for tag in tags:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_image(tag, force=True)


@dataclass
class Project:
    folder: Path
    upstream: Path
    config: Path
    repo: str
    engine: Engine

    def commit(self, message: str, files: Files) -> str:
        return write_commits(self.upstream, [(message, files)])[0]

    def run(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["-c", str(self.config), *args])
        return result.exit_code, result.output

    def run_json(self, *args: str) -> tuple[int, Any]:
        """Run with --json; stdout parsed (progress goes to stderr), or {"output": ...} when not JSON."""
        result = CliRunner().invoke(app, ["-c", str(self.config), *args, "--json"])
        try:
            return result.exit_code, json.loads(result.stdout)
        except ValueError:
            return result.exit_code, {"output": result.output}

    def store(self) -> Store:
        return Store(load_config(self.config).state_dir / "state.db")

    def git_bisect_run(self, bad: str, good: str) -> str:
        """`git bisect run harness build-and-test <the checked-out sha>` in the upstream checkout."""
        probe = f'{sys.executable} -m harness -c {self.config} build-and-test "$(git rev-parse HEAD)"'

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=self.upstream, capture_output=True, text=True, check=True, timeout=900
            ).stdout

        git("bisect", "start", bad, good)
        try:
            return git("bisect", "run", "sh", "-c", probe)
        finally:
            git("bisect", "reset")

    def image_id(self, tag: str) -> str | None:
        return self.engine.images.image_id(f"{self.repo}:{tag}")

    def containers(self, sha: str) -> list[object]:
        """Containers left behind for this commit (test runs label theirs harness.commit=<sha>)."""
        return list(self.engine.client.containers.list(all=True, filters={"label": f"harness.commit={sha}"}))


@pytest.fixture
def project(tmp_path: Path, engine: Engine) -> Project:
    repo = unique_repo()
    upstream = tmp_path / "upstream"
    config = write_config(tmp_path, upstream=upstream, repo=repo)
    return Project(folder=tmp_path, upstream=upstream, config=config, repo=repo, engine=engine)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Headless chromium; skipped with the reason where it is missing, unless CI requires it."""
    missing = available()
    if missing:
        if os.environ.get("HARNESS_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    with browser() as b:
        yield b

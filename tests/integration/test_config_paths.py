"""Hostile configs and trees (issue 13): refused or recorded with the path named, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_USAGE
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import unique_repo


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, " ".join(result.output.split())


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

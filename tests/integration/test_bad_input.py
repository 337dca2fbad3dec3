"""Bad input is refused before any engine or git call: exit 2 and a message naming it.

The engine is pointed at a socket that does not exist, so any engine call would be exit 125.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.sample.make import template
from tests.conftest import write_config


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_commits(tmp_path / "upstream", [("good", template())])
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    return write_config(tmp_path, upstream=tmp_path / "upstream", repo="harness-test/bad-input")


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    "target",
    [
        "harness/x:é",
        "harness/x:" + "a" * 129,
        "harness/x:-x",
        "harness/x:.x",
        "Harness/x:tag",
        "a;rm -rf /",
        "$(id)",
        "a\nb",
        "--upload-pack=x",
        "HEAD..",
        "sha256:zz",
    ],
)
def test_promote_targets(config: Path, target: str) -> None:
    code, output = run(config, "promote", "--", target)
    assert code == 2, output
    assert "invalid" in output


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        (
            "upstream: {url: .}\nrun: !!python/object/apply:os.system ['true']\nsuite: {cases: [{id: a, model: m}]}\n",
            "syntax",
        ),
        ("upstream: {url: .}\nupstream: {url: ..}\nsuite: {cases: [{id: a, model: m}]}\n", "duplicate key"),
        ("upstream: {url: .}\nrun: {timeout_s: soon}\nsuite: {cases: [{id: a, model: m}]}\n", "run.timeout_s"),
        ("upstream: {url: .}\nsuite: {cases: [{id: a, model: m, frames: -5}]}\n", "suite.cases[0].frames"),
        ("upstream: {url: .}\nsuite: {cases: [{id: a, model: m, resolution: 99999x2}]}\n", "suite.cases[0].resolution"),
        ("upstream: {url: .}\nsuite: {cases: [{id: ../../etc, model: m}]}\n", "suite.cases[0].id"),
    ],
)
def test_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str, key: str) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    code, output = run(config, "build-and-test", "HEAD")
    assert code == 2, output
    assert key in output


def test_a_50_mb_config_is_refused_unread(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("w") as fh:
        fh.write("# " + "x" * (50 << 20) + "\n")
    code, output = run(config, "history")
    assert code == 2 and "at most 1048576 allowed" in output

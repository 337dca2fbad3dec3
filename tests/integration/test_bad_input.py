"""Bad input is refused before any engine or git call: the usage exit code and a message naming it.

The engine is pointed at a socket that does not exist, so any engine call would be exit 125.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_SKIP, EXIT_USAGE
from harness.sample.make import sample_history, template
from harness.store import Store
from tests.conftest import write_config
from tests.integration.conftest import unique_repo


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_commits(tmp_path / "upstream", [("good", template())])
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    return write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("bad-input"))


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
    assert code == EXIT_USAGE, output
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
    assert code == EXIT_USAGE, output
    assert key in output


def test_a_50_mb_config_is_refused_unread(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("w") as fh:
        fh.write("# " + "x" * (50 << 20) + "\n")
    code, output = run(config, "history")
    assert code == EXIT_USAGE and "at most 1048576 allowed" in output


def test_backup_into_a_missing_folder(config: Path, tmp_path: Path) -> None:
    code, output = run(config, "backup", str(tmp_path / "nonexistent" / "dir" / "x.db"))
    assert code == EXIT_USAGE, output
    assert "nonexistent/dir" in output and "folder" in output and "Traceback" not in output


def test_backup_onto_an_existing_file(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.db"
    target.write_text("mine")
    code, output = run(config, "backup", str(target))
    assert code == EXIT_USAGE, output
    assert "exists" in output and target.read_text() == "mine"


def test_config_option_pointing_at_a_folder(tmp_path: Path) -> None:
    code, output = run(tmp_path, "history")
    assert code == EXIT_USAGE, output
    assert "is a folder" in output and "Traceback" not in output


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_a_state_dir_that_cannot_be_created(config: Path, tmp_path: Path, where: str) -> None:
    if where == "under-a-file":
        (tmp_path / "afile").write_text("")
        state_dir = tmp_path / "afile" / "state"
    else:
        state_dir = Path("/proc/harness-state")  # read-only even for root
    config.write_text(config.read_text() + f"state_dir: {state_dir}\n")
    code, output = run(config, "history")
    assert code == EXIT_USAGE, output
    assert "state_dir" in output and "Traceback" not in output


def test_outside_a_folder_with_harness_yaml_says_how_to_point_at_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["history"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "-c PATH" in result.output and "HARNESS_CONFIG" in result.output


def test_doctor_needs_no_harness_yaml(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_CONFIG"}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    # A real process: the engine client's failed connect leaves a socket for the GC to warn about.
    done = subprocess.run(
        [sys.executable, "-m", "harness", "doctor", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    # The engine socket does not exist: doctor reports it (infra), it does not stop at the config.
    assert done.returncode == EXIT_SKIP, done.stdout + done.stderr
    rows = {(r["area"], r["item"]): r["value"] for r in json.loads(done.stdout)}
    assert "defaults" in rows[("config", "file")] and "does not answer" in rows[("engine", "reachable")]


def _without_contract(config: Path) -> None:
    text = config.read_text()
    config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("contract:")) + "\ncontract: none\n"
    )


def test_level_contract_without_a_contract_is_refused(config: Path) -> None:
    _without_contract(config)
    code, output = run(config, "build-and-test", "HEAD", "--level", "contract")
    assert code == EXIT_USAGE, output
    assert "contract: none" in output
    assert Store(config.parent / ".harness" / "state.db").runs() == []


def test_bisect_level_contract_without_a_contract_is_refused(config: Path, tmp_path: Path) -> None:
    shas = write_commits(tmp_path / "upstream", sample_history())
    _without_contract(config)
    code, output = run(config, "bisect", "--good", shas[0], "--bad", shas[-1], "--level", "contract")
    assert code == EXIT_USAGE, output
    assert "contract: none" in output

"""contract derive through the CLI on real git repos (no engine): a wrapper with upstream
vendored at Wan2GP/, an upstream history that breaks it twice, check and bisect by the
derived contract (written to a file, and `contract: derived`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_FAIL, EXIT_PASS, EXIT_USAGE
from harness.sample.make import template
from tests.conftest import SAMPLE_CONTRACT, write_config
from tests.integration.conftest import unique_repo

BASE = template(process_mode=False, api=False)
WGP = BASE["wgp.py"] or ""
WRAPPER = """\
import os
import sys


def generate(out, prompt):
    import wgp as engine
    settings = engine.get_default_settings("t2v_tiny")
    engine.server_config["save_path"] = out
    return engine.generate_video(None, None, prompt=prompt, **settings)


def model_def():
    handle = sys.modules["wgp"]
    return handle.get_model_def("t2v_tiny")
"""
TEST_SCRIPT = 'from headless import generate\n\nCASES = [{"model": "t2v_tiny", "prompt": "a fox"}]\n'


def _upstream() -> list[tuple[str, dict[str, str | None]]]:
    return [
        ("base", BASE),
        ("docs", {"README.md": "x\n"}),
        ("rename get_model_def", {"wgp.py": WGP.replace("def get_model_def(", "def get_model_definition(")}),
        ("more", {"README.md": "y\n"}),
        ("drop server_config", {"wgp.py": WGP.replace("server_config =", "config =")}),
    ]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[str]]:
    shas = write_commits(tmp_path / "upstream", _upstream())
    write_commits(
        tmp_path / "wrapper",
        [
            (
                "wrapper",
                {
                    "headless.py": WRAPPER,
                    "tests/test_cases.py": TEST_SCRIPT,
                    "Wan2GP/wgp.py": "import wgp\nwgp.vendored_only()\n",  # upstream's: not the wrapper's use
                },
            )
        ],
    )
    config = write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("derive"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # none of this may need one
    monkeypatch.chdir(tmp_path)
    return config, tmp_path / "wrapper", shas


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_derive_writes_a_contract_check_then_reads(setup: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    config, _, shas = setup
    code, output = run("-c", str(config), "contract", "derive", "--wrapper", "wrapper", "--out", "derived.yaml")
    assert code == EXIT_PASS, output
    assert "3 functions, 1 globals, 1 models" in output
    text = (tmp_path / "derived.yaml").read_text()
    assert "vendored_only" not in text and "unknown_keywords: true" in text
    config.write_text(config.read_text().replace(f"contract: {SAMPLE_CONTRACT}", "contract: ./derived.yaml"))
    assert run("-c", str(config), "check", shas[1])[0] == EXIT_PASS
    code, output = run("-c", str(config), "check", shas[2], "--json")
    doc = json.loads(output)
    [broken] = [i for i in doc["items"] if i["status"] != "ok"]
    assert code == EXIT_FAIL and broken["name"] == "get_model_def" and broken["where"] == ["headless.py:14"]
    code, output = run("-c", str(config), "check", shas[4])
    assert code == EXIT_FAIL and "server_config" in output and "used at headless.py:8" in output


def test_contract_derived_follows_the_wrapper_in_check_and_bisect(setup: tuple[Path, Path, list[str]]) -> None:
    config, wrapper, shas = setup
    text = config.read_text().replace(f"contract: {SAMPLE_CONTRACT}", "contract: derived")
    config.write_text(text + f"wrapper:\n  url: {wrapper}\n  command: python tests/test_cases.py {{out}}\n")
    assert run("-c", str(config), "check", shas[1])[0] == EXIT_PASS
    bisect = ("bisect", "--level", "contract", "--good", shas[0], "--bad", shas[4], "--json")
    code, output = run("-c", str(config), *bisect)
    assert code == EXIT_PASS, output
    assert json.loads(output)["first_bad"] == shas[2]
    code, output = run("-c", str(config), "history", "--json")
    digests = {r["contract_hash"] for r in json.loads(output)}
    assert len(digests) == 1 and "none" not in digests
    code, output = run("-c", str(config), "diff", shas[1], shas[2], "--json")
    doc = json.loads(output)
    assert code == EXIT_PASS and [s[0] for s in doc["signatures"]] == ["get_model_def"]
    assert any(i["name"] == "get_model_def" and i["status"] == "missing" for i in doc["contract"]["items"])


def test_derive_without_a_wrapper_says_how_to_give_one(setup: tuple[Path, Path, list[str]]) -> None:
    config, _, _ = setup
    code, output = run("-c", str(config), "contract", "derive")
    assert code == EXIT_USAGE and "--wrapper" in output

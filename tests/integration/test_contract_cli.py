"""check, diff and bisect --level contract through the CLI on a real git history (no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_USAGE
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import unique_repo

BASE = template(process_mode=False, api=False)
WGP = template(api=False)["wgp.py"] or ""
T2V = json.loads(BASE["defaults/t2v_tiny.json"] or "{}")


def _history() -> list[tuple[str, dict[str, str | None]]]:
    return [
        ("base", BASE),
        ("added headless mode", {"wgp.py": WGP}),
        ("deps", {"requirements.txt": "numpy>=2.0\nav>=12\nsix==1.16.0\n"}),
        (
            "models",
            {
                "defaults/t2v_tiny.json": json.dumps({**T2V, "guidance_scale": 7.5}),
                "defaults/new_model.json": json.dumps({"model": {"name": "new"}}),
                "defaults/vace_tiny.json": None,
            },
        ),
        (
            "stuff",
            {
                "wgp.py": WGP.replace("seed=-1, num_inference_steps", "rng_seed=-1, num_inference_steps").replace(
                    'video_prompt_type="", **unused', 'video_prompt_type=""'
                )
            },
        ),
        ("more stuff", {"README.md": "x\n"}),
        ("syntax", {"wgp.py": WGP + "\ndef broken(:\n"}),
    ]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    shas = write_commits(tmp_path / "upstream", _history())
    config = write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("contract"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # none of this may need one
    return config, shas


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_check_reports_each_commit_with_the_right_wording(repo: tuple[Path, list[str]]) -> None:
    config, shas = repo
    for sha in shas[:4]:
        assert run(config, "check", sha)[0] == 0
    code, output = run(config, "check", shas[4], "--json")
    doc = json.loads(output)
    assert code == 1 and not doc["holds"]
    [broken] = [i for i in doc["items"] if i["status"] != "ok"]
    assert broken["reasons"] == ["parameter `seed` no longer accepted (renamed to `rng_seed`?)"]
    code, output = run(config, "check", shas[6], "--json")
    assert code == 1 and any("does not parse" in r for i in json.loads(output)["items"] for r in i["reasons"])
    assert run(config, "check", "no-such-ref")[0] == EXIT_USAGE


def test_diff_reports_what_a_wrapper_needs(repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    config, shas = repo
    code, output = run(config, "diff", shas[0], shas[5], "--out", str(tmp_path / "impact"), "--json")
    assert code == 0, output
    doc = json.loads(output)
    assert len(doc["commits"]) == 5 and doc["commits"][0]["sha"] == shas[1]
    req = doc["requirements"]
    assert req["added"] == ["six==1.16.0"] and req["repinned"] == [["numpy", "numpy>=1.26", "numpy>=2.0"]]
    models = {m["id"]: m for m in doc["models"]}
    assert models["new_model"]["change"] == "added" and models["vace_tiny"]["change"] == "removed"
    assert models["t2v_tiny"]["keys"] == ["guidance_scale"]
    assert [s[0] for s in doc["signatures"]] == ["generate_video"] and "rng_seed" in doc["signatures"][0][2]
    assert doc["files"][0][1] == "defaults/new_model.json"  # integration files first
    assert doc["files"][-1][1] == "README.md"
    assert any("rng_seed" in item for item in doc["checklist"])
    assert any("requirements changed" in item for item in doc["checklist"])
    markdown = (tmp_path / "impact" / "impact.md").read_text()
    assert "**BROKEN**" in markdown and "- [ ] " in markdown
    assert json.loads((tmp_path / "impact" / "impact.json").read_text())["new"]["sha"] == shas[5]


def test_bisect_level_contract_finds_the_breaking_commit(repo: tuple[Path, list[str]]) -> None:
    config, shas = repo
    code, output = run(config, "bisect", "--level", "contract", "--good", shas[0], "--bad", shas[5], "--json")
    assert code == 0, output
    doc = json.loads(output)
    assert doc["first_bad"] == shas[4]
    assert doc["culprit"]["commit"]["message"] == "stuff"
    assert all(p["source"] == "fresh" for p in doc["probes"])
    code, output = run(config, "history", "--json")
    assert {r["level"] for r in json.loads(output)} == {"contract"}

"""The plan (harness/plan.py): read once before any engine or git call, printed by --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import harness.adapters.git_repo  # noqa: F401 - GitPython runs `git version` once on import: here, before the fixture
from harness.cli import app
from harness.errors import EXIT_PASS
from harness.plan import load_plan
from tests.unit.fakes import unit_config


def test_the_plan_holds_its_digests_and_narrows_to_one_gpu(tmp_path: Path) -> None:
    cfg = unit_config(tmp_path, gpu="nvidia")
    plan = load_plan(cfg, ref="main", level="smoke")
    assert plan.suite_hash == cfg.suite.digest()
    assert plan.contract.digest != "none" and plan.contract.contract is not None
    assert plan.contract.suite_models == ("t2v_tiny",)
    assert plan.build.recipe.base == "harness-base:bookworm"
    assert {stage for stage, _ in plan.build.host.dockerfiles} == {"env", "deps", "commit"}
    one = plan.on_gpu(1)
    assert (one.test.gpu.gpus, plan.test.gpu.gpus) == ((1,), ())
    assert plan.for_ref("abc", None).ref == "abc" and plan.for_ref("abc", None).build is plan.build


def test_dry_run_prints_the_plan_and_calls_no_engine_or_git(tmp_path: Path) -> None:
    """Unit tests refuse docker clients and child processes (conftest.py): git runs in one."""
    unit_config(tmp_path)
    config = str(tmp_path / "harness.yaml")
    result = CliRunner().invoke(
        app, ["-c", config, "build-and-test", "main", "--level", "smoke", "--dry-run", "--json"]
    )
    assert result.exit_code == EXIT_PASS, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["ref"], doc["level"], doc["suite"]["name"]) == ("main", "smoke", "baseline")
    assert doc["cases"][0]["id"] == "t2v" and len(doc["suite"]["hash"]) == 16
    assert doc["build"]["recipe"] == "recipe" and doc["run"]["gpu"] == "none"
    assert not (tmp_path / "state" / "runs").exists()  # nothing was run


def test_dry_run_in_words_lists_one_plan_per_ref(tmp_path: Path) -> None:
    unit_config(tmp_path)
    result = CliRunner().invoke(app, ["-c", str(tmp_path / "harness.yaml"), "build-and-test", "a", "b", "--dry-run"])
    assert result.exit_code == EXIT_PASS, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("plan for")] == [
        "plan for a",
        "plan for b",
    ]
    assert "level     auto: the deepest this host can run" in result.stdout
    assert "memory 75% of the engine host's RAM, pids 4096" in result.stdout  # run.memory_gib left out

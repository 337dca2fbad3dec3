"""The plan (harness/plan.py): read once before any engine or git call, printed by --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import harness.adapters.git_repo  # noqa: F401 - GitPython runs `git version` once on import: here, before the fixture
from harness.cli import app
from harness.config import refuse_unchecked_level
from harness.derive import DerivedContract
from harness.errors import EXIT_PASS, UsageError
from harness.ops.derive import derive_contract
from harness.plan import load_plan
from tests.unit.fakes import FakeUpstream, sha_of, unit_config


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


def _derived() -> DerivedContract:
    wrapper = FakeUpstream(["w1"], files={"w1": {"headless.py": b"import wgp\nwgp.load_models('t2v')\n"}})
    return derive_contract(wrapper, "w1", url="file:///wrapper", upstream_dir="Wan2GP")


def test_a_derived_contract_judges_every_level_by_its_digest(tmp_path: Path) -> None:
    cfg, derived = unit_config(tmp_path, derived=True), _derived()
    refuse_unchecked_level(cfg, "contract")  # derived checks something: no refusal
    for level in ("contract", "smoke", None):
        plan = load_plan(cfg, ref="main", level=level, derived=derived).contract
        assert plan.contract is derived.contract and plan.digest == derived.digest
        assert plan.source == f"derived from file:///wrapper at {sha_of('w1')[:12]}"


def test_a_derived_contract_must_be_handed_to_the_plan(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="without the derived contract"):
        load_plan(unit_config(tmp_path, derived=True), ref="main", level="contract")
    with pytest.raises(UsageError, match="contract: none"):
        refuse_unchecked_level(unit_config(tmp_path, contract=False), "contract")

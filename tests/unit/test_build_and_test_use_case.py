"""build-and-test as a use case (harness/ops/build_and_test.py) over typed fakes of the ports.

Every stop path records its verdict and builds no further; a baseline PASS moves last-good
and tags it; a FAIL that passes on a retry is FLAKY and moves nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.ops.build_and_test import Result, build_and_test
from harness.plan import load_plan
from harness.preflight import GpuInfo
from tests.unit.fakes import FakeBuilder, FakeGpu, FakeRunner, FakeUpstream, Steps, make_world, sha_of, unit_config

NO_DISTRIBUTION = ("ERROR: No matching distribution found for nosuchpkg==9",)
READ_TIMEOUT = ("pip._vendor.urllib3.exceptions.ReadTimeoutError: Read timed out.",)
H200 = GpuInfo(
    index=0, uuid="GPU-0", name="H200", memory_total_mib=141_000, memory_used_mib=0, capability=(9, 0), driver="570"
)


def _run(
    tmp_path: Path,
    *,
    level: str | None = "baseline",
    upstream: FakeUpstream | None = None,
    builder: FakeBuilder | None = None,
    runner: FakeRunner | None = None,
    gpu: FakeGpu | None = None,
    gpu_mode: str = "none",
    retries: int = 0,
) -> Result:
    cfg = unit_config(tmp_path, gpu=gpu_mode, retries=retries)
    plan = load_plan(cfg, ref="c1", level=level)
    world = make_world(tmp_path, upstream or FakeUpstream(["c1"]), builder=builder, runner=runner, gpu=gpu)
    return build_and_test(plan, world)


def test_a_crafted_tree_fails_the_commit_and_builds_nothing(tmp_path: Path) -> None:
    upstream, builder = FakeUpstream(["c1"]), FakeBuilder()
    upstream.unsafe[sha_of("c1")] = ("../escape",)
    result = _run(tmp_path, upstream=upstream, builder=builder)
    assert result.record.verdict is Verdict.FAIL
    assert "no checkout may write" in result.record.summary
    assert builder.built == []


def test_a_broken_contract_fails_the_commit_before_any_build(tmp_path: Path) -> None:
    upstream, builder = FakeUpstream(["c1"], files={"c1": {"wgp.py": b"def other():\n    pass\n"}}), FakeBuilder()
    result = _run(tmp_path, upstream=upstream, builder=builder)
    assert result.record.verdict is Verdict.FAIL
    assert result.record.summary.startswith("contract broken (nothing built): generate_video")
    assert builder.built == []


def test_level_contract_stops_after_the_check_with_its_verdict(tmp_path: Path) -> None:
    builder = FakeBuilder()
    result = _run(tmp_path, level="contract", builder=builder)
    assert (result.record.verdict, result.record.summary, result.record.level) == (
        Verdict.PASS,
        "contract holds",
        "contract",
    )
    assert builder.built == [] and not result.moved_last_good


def test_host_preflight_stops_a_gpu_run_on_a_host_without_one(tmp_path: Path) -> None:
    builder = FakeBuilder()
    result = _run(tmp_path, builder=builder, gpu_mode="nvidia")
    assert result.record.verdict is Verdict.ERROR
    assert result.record.summary.startswith("GPU preflight: no GPU visible through NVML")
    assert builder.built == []


@pytest.mark.parametrize(("tail", "verdict"), [(NO_DISTRIBUTION, Verdict.FAIL), (READ_TIMEOUT, Verdict.ERROR)])
def test_a_deps_build_failure_is_the_commits_fail_or_infra(
    tmp_path: Path, tail: tuple[str, ...], verdict: Verdict
) -> None:
    builder = FakeBuilder(fail={"deps": tail})
    result = _run(tmp_path, builder=builder)
    assert result.record.verdict is verdict
    assert [b.stage for b in builder.built] == ["env", "deps"]  # the commit image is never built
    assert Path(result.record.run_dir, "build.log").read_text() == tail[0] + "\n"
    assert result.record.image_id == ""


def test_image_preflight_refuses_an_image_that_preloads_a_library(tmp_path: Path) -> None:
    builder = FakeBuilder(env=["LD_PRELOAD=/tmp/evil.so"])
    runner = FakeRunner()
    result = _run(tmp_path, builder=builder, runner=runner, gpu=FakeGpu(infos=[H200]), gpu_mode="nvidia")
    assert result.record.verdict is Verdict.ERROR
    assert "LD_PRELOAD" in result.record.summary
    assert result.record.image_id.startswith("sha256:")  # built, then refused before any GPU time
    assert runner.requests == []


def test_smoke_passes_on_the_cpu_and_never_moves_last_good(tmp_path: Path) -> None:
    runner = FakeRunner()
    result = _run(tmp_path, level="smoke", runner=runner)
    assert result.record.verdict is Verdict.PASS
    assert result.record.summary.startswith("smoke: wgp imported on the CPU")
    assert not result.moved_last_good
    assert runner.requests[0].environment == (("CUDA_VISIBLE_DEVICES", ""),)


def test_a_baseline_pass_moves_last_good_and_tags_it(tmp_path: Path) -> None:
    builder, steps = FakeBuilder(), Steps()
    cfg = unit_config(tmp_path)
    world = make_world(tmp_path, FakeUpstream(["c1"]), builder=builder, reporter=steps)
    result = build_and_test(load_plan(cfg, ref="c1", level=None), world)
    assert result.record.verdict is Verdict.PASS and result.record.level == "baseline"
    assert result.moved_last_good
    assert builder.images[f"harness-test/unit:{LAST_GOOD}"] == result.record.image_id
    pointer = world.store.pointer(LAST_GOOD)
    assert pointer is not None and pointer.run_id == result.record.run_id
    assert "level baseline: the full suite" in steps.steps


def test_fail_then_pass_on_retry_is_flaky_and_moves_nothing(tmp_path: Path) -> None:
    builder, runner = FakeBuilder(), FakeRunner(script=["fail", "pass"])
    result = _run(tmp_path, builder=builder, runner=runner, retries=2)
    assert result.record.verdict is Verdict.FLAKY
    assert result.record.summary.startswith("flaky: failed (1/1 cases failed; t2v: runner status error: boom)")
    assert len(runner.requests) == 2  # the pass ended the retries
    assert not result.moved_last_good
    assert f"harness-test/unit:{LAST_GOOD}" not in builder.images


def test_a_fail_on_every_retry_stays_a_fail(tmp_path: Path) -> None:
    runner = FakeRunner(script=["fail", "fail", "fail"])
    result = _run(tmp_path, runner=runner, retries=2)
    assert result.record.verdict is Verdict.FAIL
    assert len(runner.requests) == 3

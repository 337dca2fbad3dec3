"""host_reasons (ops/diagnose.py): why production's baseline fails on this host, cause first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.model import CaseResult, RunRecord, Verdict
from harness.ops.diagnose import cached_names, host_reasons, suite_weights
from tests.unit.fakes import FakeGpu, FakeUpstream, definition, gpu_info, image, record, sha, unit_config

GIB = 2**30
STATE = Path("/var/lib/harness")


def _failed(*cases: tuple[str, tuple[str, ...], str], summary: str = "1 of 1 cases failed") -> RunRecord:
    results = tuple(
        CaseResult(case_id=case_id, model="t2v", runner_status="failed", verdict=Verdict.FAIL, reasons=why, error=error)
        for case_id, why, error in cases
    )
    base = record(sha("a"), image("a"), "r1", Verdict.FAIL)
    return dataclasses.replace(base, cases=results, summary=summary)


def _reasons(
    record: RunRecord | None = None,
    *,
    gpu: FakeGpu | None = None,
    needs_gpu: bool = True,
    cache: Path | None = None,
    wanted: tuple[str, ...] = (),
    have: set[str] | None = None,
    free: dict[Path, int] | None = None,
) -> tuple[str, ...]:
    free_bytes = free or {STATE: 100 * GIB}
    return host_reasons(
        record=record,
        gpu=gpu or FakeGpu([gpu_info()]),
        needs_gpu=needs_gpu,
        min_free_gib=24,
        model_cache=cache,
        wanted_weights=wanted,
        disk=lambda path: free_bytes[path],
        paths=tuple(free_bytes),
        cache_files=lambda _: have or set(),
    )


def test_a_healthy_host_and_a_passing_run_give_no_reason() -> None:
    assert _reasons(record(sha("a"), image("a"), "r1")) == ()


def test_no_gpu_visible_says_the_probes_reason() -> None:
    assert _reasons(gpu=FakeGpu(error="NVML Shared Library Not Found")) == (
        "no GPU visible: NVML Shared Library Not Found",
    )


def test_vram_short_uses_preflights_words() -> None:
    (reason,) = _reasons(gpu=FakeGpu([gpu_info(free_gib=3.1)]))
    assert reason.startswith("GPU 0 (NVIDIA H200) has 3.1 GiB free; the suite needs 24 GiB")


def test_the_driver_is_named_when_the_failure_names_cuda_but_not_for_cudas_out_of_memory() -> None:
    cuda = _failed(("c1", ("CUDA error: no kernel image is available",), ""))
    gpus = FakeGpu([gpu_info(0), gpu_info(1, driver="560.1")])
    assert _reasons(cuda, gpu=gpus) == (
        "driver 550.54 (GPU 0 NVIDIA H200); driver 560.1 (GPU 1 NVIDIA H200)",
        "case c1 (t2v): CUDA error: no kernel image is available",
    )
    oom = _failed(("c1", (), "torch.OutOfMemoryError: CUDA out of memory"))
    assert _reasons(oom) == ("case c1 (t2v): torch.OutOfMemoryError: CUDA out of memory",)


def test_a_cpu_suite_looks_at_the_gpu_only_when_its_failure_names_the_driver() -> None:
    nothing = FakeGpu(error="no NVML here")
    assert _reasons(needs_gpu=False, gpu=nothing) == ()
    driver = _failed(("c1", ("driver too old",), ""))
    assert _reasons(driver, needs_gpu=False, gpu=nothing)[0] == "no GPU visible: no NVML here"


def test_missing_weights_are_named_with_the_cache() -> None:
    cache = Path("/models")
    wanted = ("a.safetensors", "b.safetensors", "c.safetensors", "a.safetensors")
    assert _reasons(cache=cache, wanted=wanted, have={"c.safetensors"}) == (
        "weights missing in /models: a.safetensors, b.safetensors",
    )
    assert _reasons(cache=None, wanted=wanted) == (
        "weights: no model cache is configured (run.model_cache); the suite needs 4 files",
    )
    assert _reasons(cache=cache, wanted=(), have=set()) == ()


def test_disk_short_or_unreadable_is_said_per_path() -> None:
    def disk(path: Path) -> int:
        if path == Path("/gone"):
            raise FileNotFoundError(2, "No such file or directory")
        return int(0.4 * GIB) if path == STATE else 50 * GIB

    reasons = host_reasons(
        record=None,
        gpu=FakeGpu([gpu_info()]),
        needs_gpu=True,
        min_free_gib=24,
        model_cache=None,
        wanted_weights=(),
        disk=disk,
        paths=(STATE, Path("/models"), Path("/gone")),
    )
    assert reasons == (
        "disk: /var/lib/harness has 0.4 GiB free",
        "disk: /gone cannot be checked (No such file or directory)",
    )


def test_host_reasons_come_first_then_the_runs_failing_cases_or_its_summary() -> None:
    run = _failed(("c1", ("no video",), ""), ("c2", (), "boom"))
    reasons = _reasons(run, gpu=FakeGpu([gpu_info(free_gib=1)]), free={STATE: 0})
    assert [r.split(" ")[0] for r in reasons] == ["GPU", "disk:", "case", "case"]
    assert reasons[2:] == ("case c1 (t2v): no video", "case c2 (t2v): boom")
    bare = dataclasses.replace(_failed(), verdict=Verdict.ERROR, summary="engine gone")
    assert _reasons(bare) == ("run r1: engine gone",)


def test_cached_names_are_the_files_anywhere_in_the_cache(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.safetensors").write_bytes(b"x")
    (tmp_path / "b.pth").write_bytes(b"x")
    assert cached_names(tmp_path) == {"a.safetensors", "b.pth"}
    assert cached_names(tmp_path / "none") == set()


def test_suite_weights_are_the_files_weights_pull_resolves_at_the_commit(tmp_path: Path) -> None:
    tree = {"defaults/t2v_tiny.json": definition("https://h/tiny.safetensors?download=1", "https://h/vae.pth")}
    upstream = FakeUpstream(refs={"main": sha("c")}, files={sha("c"): tree})
    assert suite_weights(unit_config(tmp_path), upstream, sha("c")) == ("tiny.safetensors", "vae.pth")

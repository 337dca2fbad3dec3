"""A local run's request as a Swarm job (harness/fleet.py): GPU reserved, image by digest, paths shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Suite
from harness.errors import UsageError
from harness.fleet import digest_ref, fleet_job
from harness.limits import Limits
from harness.runplan import GpuPlan, RunRequest, suite_container

DIGEST = "sha256:" + "ab" * 32


def _request(run_dir: str, *, gpu: GpuPlan, cache: Path | None = None) -> RunRequest:
    return suite_container(
        suite=Suite(name="s", cases=(), overlays=None),
        limits=Limits(memory_bytes=0),
        model_cache=cache,
        timeout_s=600,
        image="sha256:local",
        run_id="r1",
        run_dir=run_dir,
        labels={"harness.commit": "c" * 40},
        gpu=gpu,
        smoke=False,
    ).request


def test_the_gpu_plan_becomes_one_reserved_gpu_and_the_image_a_digest() -> None:
    visible = (("NVIDIA_VISIBLE_DEVICES", "0"),)
    devices = GpuPlan(mode="devices", reason="", devices=("/dev/nvidia0",), environment=visible)
    request = _request("/shared/state/runs/r1", gpu=devices, cache=Path("/models"))
    image = digest_ref("10.9.0.1:5000", "harness/wan2gp", DIGEST)
    job = fleet_job(request, image=image, gpu_resource="NVIDIA-GPU", shared=("/shared", "/models"), memory_bytes=0)
    assert job.image == f"10.9.0.1:5000/harness/wan2gp@{DIGEST}"
    assert (job.gpu_resource, job.gpus) == ("NVIDIA-GPU", 1)
    assert ("NVIDIA_VISIBLE_DEVICES", "0") not in job.environment  # the node's runtime maps the reserved id
    assert [m.source for m in job.mounts] == ["/shared/state/runs/r1/in", "/shared/state/runs/r1/out", "/models"]
    assert job.user == "10001:10001" and job.read_only_root and job.pids == 4096
    assert ("harness.commit", "c" * 40) in job.labels and job.timeout_s == 600


def test_a_cpu_run_reserves_no_gpu() -> None:
    job = fleet_job(
        _request("/shared/runs/r1", gpu=GpuPlan(mode="none", reason="cpu")),
        image=digest_ref("r:5000", "x", DIGEST),
        gpu_resource="NVIDIA-GPU",
        shared=("/shared",),
        memory_bytes=1 << 30,
    )
    assert job.gpus == 0 and job.memory_bytes == 1 << 30


def test_a_mount_no_node_has_is_refused_naming_it() -> None:
    request = _request("/var/lib/harness/runs/r1", gpu=GpuPlan(mode="none", reason="cpu"))
    with pytest.raises(UsageError, match=r"mounts /var/lib/harness/runs/r1/in, /var/lib/harness/runs/r1/out, outside"):
        fleet_job(request, image="x", gpu_resource="G", shared=("/shared", "/var/lib/harness/run"), memory_bytes=0)


def test_a_digest_reference_needs_a_digest() -> None:
    with pytest.raises(ValueError, match="not a digest"):
        digest_ref("r:5000", "x", "latest")

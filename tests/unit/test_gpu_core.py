"""GPU core on CPU: preflight messages, mode plans with subsets, telemetry, drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import NoGpuError
from harness.model import Sample
from harness.preflight import GpuInfo, arch_problem, host_problems
from harness.runplan import plan_gpu
from harness.telemetry import case_telemetry, case_windows, psnr

H200 = GpuInfo(
    index=0,
    uuid="GPU-1",
    name="NVIDIA H200",
    memory_total_mib=143771,
    memory_used_mib=1000,
    capability=(9, 0),
    driver="580.159.04",
)
NODES = ("/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm")


def test_no_driver_and_too_little_memory() -> None:
    [msg] = host_problems([], "NVML Shared Library Not Found", min_free_gib=0)
    assert "no GPU visible through NVML" in msg and "NVML Shared Library Not Found" in msg
    [msg] = host_problems([H200], "", min_free_gib=200)
    assert "GPU 0 (NVIDIA H200) has 139.4 GiB free; the suite needs 200 GiB" in msg
    assert host_problems([H200], "", min_free_gib=100) == []


@pytest.mark.parametrize(
    ("arch", "ok"),
    [
        (["sm_80", "sm_86"], False),  # upstream's own Dockerfile: no Hopper kernels
        (["sm_80", "sm_90"], True),
        (["sm_90a"], True),
        (["sm_80", "compute_80"], True),  # PTX, compiled by the driver
        (["compute_100"], False),
        ([], False),  # a CPU build of torch
    ],
)
def test_arch_list_against_compute_capability(arch: list[str], ok: bool) -> None:
    problem = arch_problem(arch, H200)
    assert (problem is None) == ok
    if not ok:
        assert "GPU 0 (NVIDIA H200)" in (problem or "")
    assert arch_problem(None, H200) is None  # no torch in the image: nothing to say


def test_subsets_in_each_mode() -> None:
    devices = plan_gpu("devices", runtimes=set(), nodes=NODES, driver_dir="/usr/local/nvidia", required=True, gpus=(1,))
    assert devices.devices == ("/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm")
    assert devices.mounts[0].read_only and devices.mounts[0].target == "/usr/local/nvidia"
    assert dict(devices.environment)["LD_LIBRARY_PATH"].startswith("/usr/local/nvidia/lib64")
    nvidia = plan_gpu("nvidia", runtimes={"nvidia"}, nodes=(), driver_dir=None, required=True, gpus=(0, 1))
    assert nvidia.device_request and nvidia.device_ids == (0, 1)
    with pytest.raises(NoGpuError, match=r"run\.gpus asks for /dev/nvidia3"):
        plan_gpu("devices", runtimes=set(), nodes=NODES, driver_dir="/d", required=True, gpus=(3,))
    with pytest.raises(NoGpuError, match="gpu: devices would work"):
        plan_gpu("nvidia", runtimes={"runc"}, nodes=NODES, driver_dir="/d", required=True)


def test_windows_and_leaks_from_runner_readings_or_samples() -> None:
    lines = [
        (1.0, "[harness-runner] case a (m) [gpu_used_mib=900.0]"),
        (2.0, "[harness-runner] case a: success  [gpu_used_mib=902.0]"),
        (2.1, "[harness-runner] case b (m) [gpu_used_mib=902.0]"),
        (3.0, "[harness-runner] case b: success  [gpu_used_mib=4000.0]"),
        (3.1, "[harness-runner] case c (m)"),
        (4.0, "[harness-runner] case c: failed oops"),
    ]
    windows = case_windows(lines)
    assert windows["a"].used_start == 900.0 and windows["c"].used_end is None
    samples = [
        Sample(t=t / 10, used_mib=1000 + (5000 if 25 <= t <= 29 else 0) + (3000 if t >= 35 else 0), util=50.0)
        for t in range(5, 45)
    ]
    tel = case_telemetry(samples, windows)
    assert not tel["a"].leaked and tel["a"].leak_mib == 2.0
    assert tel["b"].leaked and tel["b"].peak_mib == 6000  # the in-process readings
    assert tel["c"].leaked and tel["c"].leak_mib == 3000  # no readings: the samples at the markers
    assert tel["a"].util_mean == 50.0
    assert case_telemetry([], windows) == {}


def test_psnr_drift() -> None:
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, size=(5, 8, 8), dtype=np.uint8)
    assert psnr(clip, clip) == math.inf
    noisy = np.clip(clip.astype(int) + rng.integers(-3, 4, size=clip.shape), 0, 255).astype(np.uint8)
    assert 35 < (psnr(clip, noisy) or 0) < 60
    assert psnr(clip, np.zeros((5, 4, 4), dtype=np.uint8)) is None
    assert (psnr(clip, 255 - clip) or 99) < 10

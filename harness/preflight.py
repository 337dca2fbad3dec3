"""GPU preflight (pure): every problem is one message, found before any long work (exit 125)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_total_mib: float
    memory_used_mib: float
    capability: tuple[int, int]
    driver: str

    @property
    def free_mib(self) -> float:
        return self.memory_total_mib - self.memory_used_mib


def host_problems(gpus: list[GpuInfo], nvml_error: str, *, min_free_gib: float) -> list[str]:
    """Problems of the host's GPUs for a suite that runs on them."""
    if not gpus:
        return [
            f"no GPU visible through NVML on this host ({nvml_error or 'no device'}): "
            "check the driver (nvidia-smi), or run a suite that needs no GPU"
        ]
    problems = []
    for gpu in gpus:
        if gpu.free_mib < min_free_gib * 1024:
            problems.append(
                f"GPU {gpu.index} ({gpu.name}) has {gpu.free_mib / 1024:.1f} GiB free; "
                f"the suite needs {min_free_gib:g} GiB (suite.min_free_gpu_gib)"
            )
    return problems


# Where CUDA images legitimately point the loader (nvidia/cuda sets the first two).
SAFE_LIBRARY_DIRS = (
    "/usr/local/nvidia/lib",
    "/usr/local/nvidia/lib64",
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/compat",
    "/usr/lib/x86_64-linux-gnu",
)


def env_problem(env: list[str]) -> str | None:
    """An image that sets LD_PRELOAD or points LD_LIBRARY_PATH elsewhere is refused before it
    gets a GPU: the NVIDIA container toolkit's hooks run with those variables (CVE-2025-23266)."""
    for item in env:
        name, _, value = item.partition("=")
        if name == "LD_PRELOAD" and value.strip():
            return f"the image sets LD_PRELOAD={value!r}: refused before any GPU run (SECURITY.md)"
        if name == "LD_LIBRARY_PATH":
            odd = [d for d in value.split(":") if d and d.rstrip("/") not in SAFE_LIBRARY_DIRS]
            if odd:
                return f"the image points LD_LIBRARY_PATH at {':'.join(odd)}: refused before any GPU run (SECURITY.md)"
    return None


def arch_problem(arch_list: list[str] | None, gpu: GpuInfo) -> str | None:
    """Whether torch in the image can run kernels on this GPU.

    Machine code (sm_XY) runs on the same major version with minor >= Y; PTX (compute_XY)
    is compiled by the driver for any newer GPU. Upstream's own Dockerfile builds attention
    kernels for 8.0/8.6 only, which an H200 (9.0) cannot run.
    """
    major, minor = gpu.capability
    if arch_list is None:
        return None  # torch not importable in the image: nothing to check here
    if not arch_list:
        return f"torch in the image was built without CUDA: it cannot use GPU {gpu.index} ({gpu.name})"
    for arch in arch_list:
        m = re.fullmatch(r"(sm|compute)_(\d+)(\d)a?", arch)
        if not m:
            continue
        a_major, a_minor = int(m[2]), int(m[3])
        if m[1] == "sm" and a_major == major and a_minor <= minor:
            return None
        if m[1] == "compute" and (a_major, a_minor) <= (major, minor):
            return None
    return (
        f"torch in the image was built for {', '.join(arch_list)}; GPU {gpu.index} ({gpu.name}) is "
        f"sm_{major}{minor}: rebuild with TORCH_CUDA_ARCH_LIST including {major}.{minor}"
    )

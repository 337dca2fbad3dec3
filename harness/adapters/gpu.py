"""The host's GPUs: device nodes and NVML. The only module that imports `pynvml`."""

from __future__ import annotations

import glob
import threading
import time
from typing import Any

from harness.model import Sample
from harness.preflight import GpuInfo


def _nvml() -> Any:
    import pynvml  # from nvidia-ml-py

    pynvml.nvmlInit()
    return pynvml


class HostGpuProbe:
    def __init__(self, dev_glob: str = "/dev/nvidia*") -> None:
        self._glob = dev_glob

    def device_nodes(self) -> tuple[str, ...]:
        return tuple(sorted(glob.glob(self._glob)))

    def gpus(self) -> tuple[list[GpuInfo], str]:
        """The GPUs NVML sees, or ([], why not)."""
        try:
            nv = _nvml()
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, ImportError, ...
            return [], f"NVML unavailable: {exc}"
        try:
            driver = nv.nvmlSystemGetDriverVersion()
            found = []
            for index in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                memory = nv.nvmlDeviceGetMemoryInfo(handle)
                found.append(
                    GpuInfo(
                        index=index,
                        uuid=str(nv.nvmlDeviceGetUUID(handle)),
                        name=str(nv.nvmlDeviceGetName(handle)),
                        memory_total_mib=memory.total / 2**20,
                        memory_used_mib=memory.used / 2**20,
                        capability=tuple(nv.nvmlDeviceGetCudaComputeCapability(handle)),
                        driver=str(driver),
                    )
                )
            return found, ""
        finally:
            nv.nvmlShutdown()

    def sampler(self, indexes: list[int], period_s: float = 0.25) -> GpuSampler:
        return GpuSampler(indexes, period_s)


class NoLocalGpu:
    """The GpuProbe of a fleet's build host: the runs' GPUs are on the nodes (checked by Swarm's
    placement and by the runs themselves), none here is looked at or sampled."""

    def device_nodes(self) -> tuple[str, ...]:
        return ()

    def gpus(self) -> tuple[list[GpuInfo], str]:
        return [], "the fleet's nodes hold the GPUs"

    def sampler(self, indexes: list[int], period_s: float = 0.25) -> GpuSampler:
        return GpuSampler([], period_s)


class GpuSampler:
    """Samples memory used and utilisation of some GPUs in a thread, until stopped."""

    def __init__(self, indexes: list[int], period_s: float) -> None:
        self.indexes, self.period_s = indexes, period_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            nv = _nvml()
        except Exception:  # noqa: BLE001 - no NVML: no samples, the run goes on
            return
        try:
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in self.indexes]
            while not self._stop.is_set():
                used = sum(nv.nvmlDeviceGetMemoryInfo(h).used for h in handles) / 2**20
                util = sum(nv.nvmlDeviceGetUtilizationRates(h).gpu for h in handles) / max(1, len(handles))
                self.samples.append(Sample(t=time.monotonic(), used_mib=used, util=float(util)))
                self._stop.wait(self.period_s)
        finally:
            nv.nvmlShutdown()

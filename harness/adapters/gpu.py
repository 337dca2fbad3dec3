"""What the host offers for GPUs. The only module that imports `pynvml` (telemetry comes later)."""

from __future__ import annotations

import glob


class HostGpuProbe:
    def __init__(self, dev_glob: str = "/dev/nvidia*") -> None:
        self._glob = dev_glob

    def device_nodes(self) -> tuple[str, ...]:
        return tuple(sorted(glob.glob(self._glob)))

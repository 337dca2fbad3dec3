"""Hand each running test container one GPU of its own (never two containers on one GPU,
unless the suite says a case fits `per_gpu` times). On a host without GPUs it only bounds
how many runs go at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class GpuScheduler:
    def __init__(self, gpus: list[int], *, per_gpu: int = 1, cpu_slots: int = 1) -> None:
        self._free: dict[int | None, int] = {g: per_gpu for g in gpus} if gpus else {None: cpu_slots}
        self._cond = threading.Condition()

    @property
    def capacity(self) -> int:
        return sum(self._free.values())

    @contextmanager
    def claim(self) -> Iterator[int | None]:
        """Wait for a free GPU and hold it for the block (None: no GPU on this host)."""
        with self._cond:
            while not (free := [g for g, n in self._free.items() if n > 0]):
                self._cond.wait()
            gpu = max(free, key=lambda g: (self._free[g], -(g or 0)))  # the emptiest, lowest index
            self._free[gpu] -= 1
        try:
            yield gpu
        finally:
            with self._cond:
                self._free[gpu] += 1
                self._cond.notify_all()

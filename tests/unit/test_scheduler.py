"""The GPU scheduler (harness/scheduler.py): one container per GPU, all GPUs used."""

from __future__ import annotations

import threading
import time
from collections import Counter

from harness.scheduler import GpuScheduler


def _hammer(scheduler: GpuScheduler, workers: int) -> tuple[int, Counter[int | None]]:
    lock = threading.Lock()
    holding: Counter[int | None] = Counter()
    used: Counter[int | None] = Counter()
    worst = 0

    def work() -> None:
        nonlocal worst
        with scheduler.claim() as gpu:
            with lock:
                holding[gpu] += 1
                used[gpu] += 1
                worst = max(worst, holding[gpu])
            time.sleep(0.01)
            with lock:
                holding[gpu] -= 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return worst, used


def test_never_two_containers_on_one_gpu_and_every_gpu_used() -> None:
    worst, used = _hammer(GpuScheduler([0, 1, 2, 3]), 40)
    assert worst == 1 and set(used) == {0, 1, 2, 3} and sum(used.values()) == 40


def test_a_case_that_fits_twice_may_share() -> None:
    worst, _ = _hammer(GpuScheduler([0], per_gpu=2), 20)
    assert worst == 2


def test_cpu_host_only_bounds_concurrency() -> None:
    scheduler = GpuScheduler([], cpu_slots=3)
    worst, used = _hammer(scheduler, 12)
    assert set(used) == {None} and worst <= 3 and scheduler.capacity == 3

"""Several build-and-test runs at once, one GPU each (the scheduler hands them out)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness.config import Config
from harness.errors import HarnessError
from harness.model import RunRecord
from harness.ops.build_and_test import Result, World, build_and_test
from harness.ports import GpuProbe
from harness.scheduler import GpuScheduler


def scheduler_for(cfg: Config, gpu: GpuProbe, *, slots: int, limit: int | None = None) -> GpuScheduler:
    """A scheduler over the host's GPUs that `run.gpus` allows (the first `limit` of them), or
    `slots` runs at a time on a host without GPUs."""
    gpus = [g.index for g in gpu.gpus()[0] if not cfg.gpus or g.index in cfg.gpus]
    return GpuScheduler(gpus[:limit], cpu_slots=slots)


def run_many(
    cfg: Config, refs: list[str], *, make_world: Callable[[], World], scheduler: GpuScheduler, level: str | None
) -> dict[str, Result | HarnessError]:
    """Each ref in a thread with its own adapters (git, engine and store clients are not
    shared across threads) and, on a GPU host, its own GPU (`run.gpus` narrowed to it)."""

    def one(ref: str) -> Result | HarnessError:
        with scheduler.claim() as gpu:
            local = cfg if gpu is None else dataclasses.replace(cfg, gpus=(gpu,))
            try:
                return build_and_test(local, ref, make_world(), level=level)
            except HarnessError as exc:
                return exc

    with ThreadPoolExecutor(max_workers=max(1, min(len(refs), scheduler.capacity))) as pool:
        return dict(zip(refs, pool.map(one, refs), strict=True))


def records(outcomes: dict[str, Result | HarnessError]) -> dict[str, RunRecord]:
    return {ref: r.record for ref, r in outcomes.items() if isinstance(r, Result)}

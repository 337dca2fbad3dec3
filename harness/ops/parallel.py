"""Several build-and-test runs at once, one GPU each (the scheduler hands them out).

An interrupt (Ctrl-C, SIGTERM) arrives in the main thread only, while the runs' test
containers are followed by worker threads that would wait for them to end on their own
(up to `run.timeout_s`): on an interrupt the main thread stops every worker, removes the
containers of this session until every worker is out, and only then lets the interrupt go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from harness.errors import HarnessError, Interrupted
from harness.model import RunRecord
from harness.ops.build_and_test import Result, World, build_and_test
from harness.plan import Plan
from harness.ports import ContainerRunner, GpuProbe, LineSink, SessionContainers
from harness.runplan import ContainerExit, RunRequest
from harness.scheduler import GpuScheduler

Reap = Callable[[], None]


def reap_session(engine: SessionContainers, session: str) -> None:
    """Remove every container of this harness process (labelled `harness.session`)."""
    for container in engine.containers(f"harness.session={session}"):
        engine.remove_container(container.id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _StoppableRunner:
    """Starts nothing once `stop` is set; a run that ends after it is an interruption, not a verdict."""

    inner: ContainerRunner
    stop: threading.Event

    def runtimes(self) -> set[str]:
        return self.inner.runtimes()

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        if self.stop.is_set():
            raise Interrupted("interrupted before the test container started")
        try:
            done = self.inner.run(request, log_path=log_path, on_line=on_line)
        except Exception:
            if self.stop.is_set():  # its container was removed under it: no record of this run
                raise Interrupted("interrupted: the test container was removed") from None
            raise
        if self.stop.is_set():
            raise Interrupted("interrupted: the test container was removed")
        return done


def scheduler_for(allowed: tuple[int, ...], gpu: GpuProbe, *, slots: int, limit: int | None = None) -> GpuScheduler:
    """A scheduler over the host's GPUs that `run.gpus` (`allowed`) lets runs use (the first
    `limit` of them), or `slots` runs at a time on a host without GPUs."""
    gpus = [g.index for g in gpu.gpus()[0] if not allowed or g.index in allowed]
    return GpuScheduler(gpus[:limit], cpu_slots=slots)


def run_many(
    plan: Plan,
    refs: list[str],
    *,
    make_world: Callable[[], World],
    scheduler: GpuScheduler,
    reap: Reap | None = None,
) -> dict[str, Result | HarnessError]:
    """`plan` for each ref (nothing is read again), each in a thread with its own adapters (git,
    engine and store clients are not shared across threads) and, on a GPU host, its own GPU
    (the plan narrowed to it). `reap` removes the containers of this session (on an interrupt)."""
    stop = threading.Event()

    def one(ref: str) -> Result | HarnessError:
        with scheduler.claim() as gpu:
            local = plan.for_ref(ref, plan.level)
            local = local if gpu is None else local.on_gpu(gpu)
            try:
                if stop.is_set():
                    raise Interrupted(f"{ref}: interrupted before it started")
                world = make_world()
                world = dataclasses.replace(world, runner=_StoppableRunner(inner=world.runner, stop=stop))
                return build_and_test(local, world)
            except HarnessError as exc:
                return exc

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(refs), scheduler.capacity)))
    futures = [pool.submit(one, ref) for ref in refs]
    try:
        wait(futures)  # an interrupt lands here, and the workers are stopped before it goes on
    except BaseException:  # KeyboardInterrupt, the CLI's Terminated: stop the workers first
        stop.set()
        _stop_workers(pool, futures, reap)
        raise
    pool.shutdown(wait=True)
    return dict(zip(refs, (f.result() for f in futures), strict=True))


def _stop_workers(pool: ThreadPoolExecutor, futures: list[Future[Result | HarnessError]], reap: Reap | None) -> None:
    """Cancel what has not started; remove running containers until every worker is out (a
    worker may be starting its container right now, so once is not enough)."""
    pool.shutdown(wait=False, cancel_futures=True)
    while True:
        if reap is not None:
            with contextlib.suppress(HarnessError):  # an engine gone away ends the workers anyway
                reap()
        if not wait(futures, timeout=1.0).not_done:
            return


def records(outcomes: dict[str, Result | HarnessError]) -> dict[str, RunRecord]:
    return {ref: r.record for ref, r in outcomes.items() if isinstance(r, Result)}

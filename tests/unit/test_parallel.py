"""Several runs at once (harness/ops/parallel.py): an interrupt stops every worker's container.

The interrupt reaches the main thread only; the workers follow their containers. Here the
fake containers never end on their own: only the session's reaper ends them.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from harness.model import Verdict
from harness.ops.parallel import run_many
from harness.plan import load_plan
from harness.ports import LineSink
from harness.runplan import ContainerExit, RunRequest
from harness.scheduler import GpuScheduler
from harness.store import INTERRUPTED, Store
from tests.unit.fakes import FakeUpstream, make_world, unit_config

REFS = ("c1", "c2")


class HangingContainers:
    """Each run blocks until the reaper removes the session's containers; the last to start
    interrupts the main thread, as Ctrl-C would."""

    def __init__(self, runs: int) -> None:
        self.runs, self.started, self.ended = runs, 0, 0
        self.removed = threading.Event()
        self.lock = threading.Lock()

    def runtimes(self) -> set[str]:
        return set()

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        with self.lock:
            self.started += 1
            if self.started == self.runs:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        ended = self.removed.wait(timeout=30)  # 30 s: a broken reaper fails the test, never hangs it
        with self.lock:
            self.ended += 1
        return ContainerExit(exit_code=137 if ended else 0, timed_out=False, oom_killed=False, seconds=0.0)

    def reap(self) -> None:
        self.removed.set()


def test_an_interrupt_removes_the_running_containers_and_records_nothing(tmp_path: Path) -> None:
    cfg = unit_config(tmp_path, contract=False)
    runner = HangingContainers(len(REFS))
    upstream = FakeUpstream(list(REFS))
    with pytest.raises(KeyboardInterrupt):
        run_many(
            load_plan(cfg, ref=REFS[0], level="smoke"),
            list(REFS),
            make_world=lambda: make_world(tmp_path, upstream, runner=runner),
            scheduler=GpuScheduler([], cpu_slots=len(REFS)),
            reap=runner.reap,
        )
    assert runner.removed.is_set()  # the reaper ran ...
    assert runner.ended == runner.started == len(REFS)  # ... and every worker was out before the interrupt went on
    # An interrupted run is no verdict. Its folder is recorded as interrupted once its owner lock
    # is free, which is when the garbage collector drops the worker's run (timing: either is right).
    runs = Store(tmp_path / "state" / "state.db").runs()
    assert [r for r in runs if not r.summary.startswith(INTERRUPTED)] == []
    assert all(r.verdict is Verdict.ERROR for r in runs)

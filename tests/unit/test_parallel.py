"""Several runs at once (harness/ops/parallel.py): an interrupt stops every worker's container.

The interrupt reaches the main thread only; the workers follow their containers. Here the
fake containers never end on their own: only the session's reaper ends them.
"""

from __future__ import annotations

import datetime
import signal
import threading
from pathlib import Path

import pytest

from harness.config import ClipKind, Config
from harness.model import VideoFacts
from harness.ops.build_and_test import World
from harness.ops.parallel import run_many
from harness.plan import load_plan
from harness.runplan import ContainerExit, RunRequest
from harness.scheduler import GpuScheduler
from harness.store import Store
from tests.unit.test_build_retry import OneCommit, StageBuilder, Steps, _config
from tests.unit.test_sample_clips import NoGpu

SHAS = ("1" * 40, "2" * 40)


class Upstream(OneCommit):
    def resolve(self, ref: str) -> object:
        from harness.model import Commit

        return Commit(sha=ref, message="m", author="a <a@b>", date="2024-01-01T00:00:00+00:00")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return False

    def resolution(self, ref: str) -> None:
        return None  # how a symbolic ref was resolved: nothing to say for these shas


class HangingContainers:
    """Each run blocks until the reaper removes the session's containers; the last to start
    interrupts the main thread, as Ctrl-C would."""

    def __init__(self, runs: int) -> None:
        self.runs, self.started, self.ended = runs, 0, 0
        self.removed = threading.Event()
        self.lock = threading.Lock()

    def runtimes(self) -> set[str]:
        return set()

    def run(self, request: RunRequest, *, log_path: str, on_line: object) -> ContainerExit:
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


def _world(cfg: Config, runner: HangingContainers, store_path: Path) -> World:
    def no_clip(path: Path, kind: ClipKind) -> None:
        pass

    return World(
        upstream=Upstream(),  # type: ignore[arg-type]
        builder=StageBuilder("none", []),  # type: ignore[arg-type]
        runner=runner,  # type: ignore[arg-type]
        gpu=NoGpu(),
        probe=lambda p: VideoFacts(path=str(p), exists=False),
        frames=lambda p: None,  # type: ignore[arg-type,return-value]
        sample_clip=no_clip,
        store=Store(store_path),
        reporter=Steps(),
        clock=lambda: datetime.datetime.now(datetime.UTC),
        session="host:1",
    )


def test_an_interrupt_removes_the_running_containers_and_records_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner = HangingContainers(len(SHAS))
    store_path = tmp_path / "state.db"
    with pytest.raises(KeyboardInterrupt):
        run_many(
            load_plan(cfg, ref=SHAS[0], level="smoke"),
            list(SHAS),
            make_world=lambda: _world(cfg, runner, store_path),
            scheduler=GpuScheduler([], cpu_slots=len(SHAS)),
            reap=runner.reap,
        )
    assert runner.removed.is_set()  # the reaper ran ...
    assert runner.ended == runner.started == len(SHAS)  # ... and every worker was out before the interrupt went on
    assert Store(store_path).runs() == []  # an interrupted run is no verdict

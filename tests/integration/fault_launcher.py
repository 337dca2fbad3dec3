"""`harness` with a fault point: the crash tests run this instead of `python -m harness`.

    python fault_launcher.py POINT [harness arguments...]

The wiring (harness/cli/world.py) is patched so that the production mover's injected
`fault` says when POINT is reached, then parks the process there for the test to kill it;
everything else is the real command line. Fault injection lives here, not in shipped code.

Points: after-store-write (a promotion, between its release and the retag), and for `watch`:
build (the first image build starts), run (the test container printed its first line),
bisect-step (a bisect recorded its second step).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import harness.cli.world as world
from harness.adapters.engine import Engine
from harness.cli import main
from harness.config import Config
from harness.model import BisectStep, BuildSpec
from harness.ops.build_and_test import World
from harness.ops.probe import BisectWorld
from harness.ops.promote import Mover
from harness.ports import BisectRecords, ContainerRunner, ImageBuilder, LineSink, Reporter
from harness.runplan import ContainerExit, RunRequest
from harness.store import Store

REACHED = "harness: fault point {} reached"


def park_at(point: str) -> Callable[[str], None]:
    def fault(reached: str) -> None:
        if reached == point:
            print(REACHED.format(point), file=sys.stderr, flush=True)
            time.sleep(3600)  # parked: the test kills the process here (an hour bounds a test that did not)

    return fault


def with_fault(point: str, make_mover: Callable[[Config], tuple[Mover, Engine]]) -> None:
    def patched(cfg: Config) -> tuple[Mover, Engine]:
        mover, engine = make_mover(cfg)
        return dataclasses.replace(mover, fault=park_at(point)), engine

    world.make_mover = patched


class _ParkingBuilder:
    """The engine's image builder, parked when its first build starts."""

    def __init__(self, real: ImageBuilder, fault: Callable[[str], None]) -> None:
        self.real, self.fault = real, fault

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.fault("build")
        return self.real.build(spec, context, timeout_s=timeout_s, on_line=on_line, nocache=nocache)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _ParkingRunner:
    """The engine's container runner, parked once the test container printed a line."""

    def __init__(self, real: ContainerRunner, fault: Callable[[str], None]) -> None:
        self.real, self.fault = real, fault

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        def line(text: str) -> None:
            on_line(text)
            self.fault("run")

        return self.real.run(request, log_path=log_path, on_line=line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _ParkingLog:
    """The bisect log, parked once the bisect recorded its second step."""

    def __init__(self, real: BisectRecords, fault: Callable[[str], None]) -> None:
        self.real, self.fault, self.steps_added = real, fault, 0

    def add_step(self, bisect_id: str, step: BisectStep) -> None:
        self.real.add_step(bisect_id, step)
        self.steps_added += 1
        if self.steps_added == 2:
            self.fault("bisect-step")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def with_watch_faults(point: str) -> None:
    fault, make_world, bisect_world = park_at(point), world.make_world, world.bisect_world

    def parked_world(cfg: Config, reporter: Reporter, run_store: Store | None = None) -> World:
        real = make_world(cfg, reporter, run_store)
        builder = cast(ImageBuilder, _ParkingBuilder(real.builder, fault))
        return dataclasses.replace(
            real, builder=builder, runner=cast(ContainerRunner, _ParkingRunner(real.runner, fault))
        )

    def parked_bisect(cfg: Config, reporter: Reporter, *, jobs: int) -> BisectWorld:
        real = bisect_world(cfg, reporter, jobs=jobs)
        return dataclasses.replace(real, log=cast(BisectRecords, _ParkingLog(real.log, fault)))

    world.make_world = parked_world
    world.bisect_world = parked_bisect


if __name__ == "__main__":
    with_fault(sys.argv[1], world.make_mover)
    with_watch_faults(sys.argv[1])
    sys.argv = ["harness", *sys.argv[2:]]
    main()

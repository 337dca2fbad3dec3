"""`harness` with a fault point: the crash tests run this instead of `python -m harness`.

    python fault_launcher.py POINT [harness arguments...]

The wiring (harness/cli/world.py) is patched so that the production mover's injected
`fault` says when POINT is reached, then parks the process there for the test to kill it;
everything else is the real command line. Fault injection lives here, not in shipped code.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import harness.cli.world as world
from harness.adapters.engine import Engine
from harness.cli import main
from harness.config import Config
from harness.ops.promote import Mover

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


if __name__ == "__main__":
    with_fault(sys.argv[1], world.make_mover)
    sys.argv = ["harness", *sys.argv[2:]]
    main()

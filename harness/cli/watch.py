"""`harness watch`: the unattended loop (foreground; `--once` for one cycle from cron)."""

from __future__ import annotations

import datetime
import os
import socket
import time
from typing import Annotated

import typer

import harness.cli.world as world
from harness.cli.app import app, err
from harness.errors import EXIT_PASS, EXIT_SKIP
from harness.ops.watch import watch
from harness.report import ConsoleReporter
from harness.watchlock import hold


class _NoMetrics:
    def run_finished(self, *, level: str, verdict: str, seconds: float) -> None:
        pass

    def succeeded(self, at: float) -> None:
        pass

    def queue_length(self, n: int) -> None:
        pass

    def escalated(self) -> None:
        pass

    def heartbeat(self, at: float) -> None:
        pass


@app.command("watch")
def watch_cmd(
    once: Annotated[bool, typer.Option("--once", help="one cycle, then exit (from cron)")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every build/run line")] = False,
) -> None:
    """Follow upstream unattended: test each new head (cheapest level first), bisect a FAIL and
    write its impact report, promote per `watch.promote`, re-validate production, clean up, and
    notify (`notify:`). State lives in the store: a restart resumes where it stopped."""
    cfg = world.config()
    since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lock = hold(cfg.state_dir / "watch.lock", {"pid": os.getpid(), "host": socket.gethostname(), "since": since})
    try:
        reporter = ConsoleReporter(err, verbose)
        ports = world.watch_world(cfg, reporter, _NoMetrics())
        with reporter.status:
            state = watch(ports, once=once, sleep=time.sleep)
    finally:
        lock.release()
    raise typer.Exit(EXIT_SKIP if state.streak.count else EXIT_PASS)

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
from harness.metrics import parse_metrics_addr
from harness.ops.watch import watch
from harness.report import ConsoleReporter
from harness.watchlock import hold


@app.command("watch")
def watch_cmd(
    once: Annotated[bool, typer.Option("--once", help="one cycle, then exit (from cron)")] = False,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="serve Prometheus metrics at PORT or HOST:PORT (loopback only unless told)"),
    ] = None,
    metrics_any_host: Annotated[
        bool, typer.Option("--metrics-any-host", help="let --metrics bind a host other than the loopback")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every build/run line")] = False,
) -> None:
    """Follow upstream unattended: test each new head (cheapest level first), bisect a FAIL and
    write its impact report, promote per `watch.promote`, re-validate production, clean up, and
    notify (`notify:`). State lives in the store: a restart resumes where it stopped."""
    addr = parse_metrics_addr(metrics, any_host=metrics_any_host) if metrics is not None else None
    cfg = world.config()
    since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lock = hold(cfg.state_dir / "watch.lock", {"pid": os.getpid(), "host": socket.gethostname(), "since": since})
    try:
        reporter = ConsoleReporter(err, verbose)
        with world.metrics_endpoint(addr) as sink:
            if addr is not None:
                err.print(f"metrics at http://{addr}/metrics", highlight=False)
            ports = world.watch_world(cfg, reporter, sink)
            with reporter.status:
                state = watch(ports, once=once, sleep=time.sleep)
    finally:
        lock.release()
    raise typer.Exit(EXIT_SKIP if state.streak.count else EXIT_PASS)

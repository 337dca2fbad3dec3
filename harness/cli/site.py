"""`harness report`: the static HTML site of history, videos, thumbnails and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import harness.cli.world as world
from harness.cli.app import app, err
from harness.metrics import parse_metrics_addr
from harness.ops.report import report
from harness.report import ConsoleReporter


@app.command("report")
def report_cmd(
    out: Annotated[
        Path | None, typer.Option("--out", help="the site's folder (default: report.out, else <state_dir>/report)")
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option("--serve", help="then serve it at PORT or HOST:PORT until Ctrl-C (loopback only unless told)"),
    ] = None,
    serve_any_host: Annotated[
        bool, typer.Option("--serve-any-host", help="let --serve bind a host other than the loopback")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="say each step")] = False,
) -> None:
    """Render the report: upstream's timeline with verdicts per level, a page per run (contact
    sheets, videos, numbers, drift), commit, and bisect, and plots across commits. Only pages
    whose data changed are rewritten; it works from file:// and from any static server."""
    addr = (
        parse_metrics_addr(
            serve, any_host=serve_any_host, option="--serve", reveals="the report shows commits, logs and videos"
        )
        if serve is not None
        else None
    )
    cfg = world.config()
    folder = (out or cfg.report_dir).resolve()
    reporter = ConsoleReporter(err, verbose)
    with world.report_world(cfg, reporter, folder) as ports, reporter.status:
        done = report(ports)
    err.print(
        escape(
            f"report: {done.written} file(s) written, {done.unchanged} unchanged, {done.removed} removed, "
            f"{done.linked} run file(s) linked, media made for {done.media_made} run(s), in {done.seconds:.2f} s"
        ),
        highlight=False,
    )
    for problem in done.problems:
        err.print(escape(f"  not linked: {problem}"), highlight=False)
    typer.echo((folder / "index.html").as_uri())
    if addr is not None:
        server = world.site_server(folder, addr)
        err.print(f"serving http://{addr}/ (Ctrl-C to stop)", highlight=False)
        with server:
            server.serve_forever()

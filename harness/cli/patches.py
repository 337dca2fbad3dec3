"""`harness patches refresh`: the wrapper's downstream patches carried to a newer upstream."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

import harness.cli.world as world
from harness.cli.app import JsonOpt, app, out
from harness.errors import ConfigError
from harness.ops.patches import RefreshReport, refresh
from harness.patches import KEY, series_for
from harness.report import to_json

patches_app = typer.Typer(help="The wrapper's downstream patches (wrapper.patches).", no_args_is_help=True)
app.add_typer(patches_app, name="patches")

OUTCOME_STYLE = {"applied": "green", "refreshed": "yellow", "empty": "yellow", "conflict": "bold red"}


@patches_app.command("refresh")
def refresh_cmd(
    to: Annotated[str, typer.Option("--to", help="upstream ref to carry the series to")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="folder for the refreshed series (default: <state_dir>/patches-refreshed-<sha12>)"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Apply the patch series at upstream TO (as is, else by 3-way merge) and write the refreshed
    patches and a `series` file for review: exit 0 when every patch goes on, 1 when any conflicts
    (they are listed with file and hunk, and nothing is written)."""
    cfg = world.config()
    series = series_for(cfg.wrapper)
    if series is None:
        raise ConfigError(str(cfg.source), KEY, "not set: give `wrapper.patches: FOLDER` to have a series to refresh")
    report = refresh(world.upstream_for(cfg), to, series, out_dir=out_dir, state_dir=cfg.state_dir)
    if json_out:
        out.print_json(to_json({**dataclasses.asdict(report), "ok": report.ok}))
    else:
        _print(report)
    raise typer.Exit(0 if report.ok else 1)


def _print(report: RefreshReport) -> None:
    table = Table(title=escape(f"patch series onto upstream {report.commit.short} ({report.commit.date[:10]})"))
    for column in ("patch", "outcome", "files", "where"):
        table.add_column(column, overflow="fold")
    for p in report.patches:
        where = f"{p.file} {p.hunk}".strip() if p.outcome == "conflict" else ""
        table.add_row(
            escape(p.patch), f"[{OUTCOME_STYLE[p.outcome]}]{p.outcome}[/]", escape(", ".join(p.files)), escape(where)
        )
    out.print(table)
    if report.out_dir is not None:
        out.print(escape(f"refreshed series written to {report.out_dir}: review it, then use it as wrapper.patches"))
    else:
        conflicts = [p.patch for p in report.patches if p.outcome == "conflict"]
        out.print(f"[bold red]{len(conflicts)} patch(es) conflict: nothing written[/] ({escape(', '.join(conflicts))})")

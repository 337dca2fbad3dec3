"""`harness check` and `harness diff`: registered on the app of `harness.cli`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli import JsonOpt, app, out, state, upstream_for
from harness.config import Config, load_config
from harness.contract import DEFAULT_CONTRACT, Contract, load_contract
from harness.errors import UsageError
from harness.report import to_json

STATUS_STYLE = {"ok": "green", "missing": "bold red", "changed": "bold red", "error": "bold red"}


def _contract(cfg: Config) -> Contract:
    return load_contract(cfg.contract or DEFAULT_CONTRACT)


def _suite_models(cfg: Config) -> tuple[str, ...]:
    return tuple(c.model for c in cfg.suite.cases)


@app.command("check")
def check_cmd(ref: Annotated[str, typer.Argument(help="upstream ref")], json_out: JsonOpt = False) -> None:
    """Check the integration contract at REF from git (ast, no checkout, no import): exit 0 holds, 1 broken."""
    from harness.ops.check import check_commit

    cfg = load_config(state["config"])
    upstream = upstream_for(cfg)
    result = check_commit(
        upstream, upstream.resolve(ref), _contract(cfg), overlays=cfg.suite.overlays, suite_models=_suite_models(cfg)
    )
    if json_out:
        out.print_json(
            to_json(
                {
                    "commit": dataclasses.asdict(result.commit),
                    "holds": result.holds,
                    "seconds": round(result.seconds, 3),
                    "items": [dataclasses.asdict(i) for i in result.items],
                }
            )
        )
    else:
        resolution = upstream.resolution(ref)
        if resolution is not None and resolution.ref != resolution.sha:
            out.print(f"ref {escape(resolution.line())}", highlight=False)
        table = Table(title=f"contract at {result.commit.short} ({result.commit.date[:10]}) in {result.seconds:.2f} s")
        for column in ("status", "kind", "item", "why"):
            table.add_column(column, overflow="fold")
        for item in result.items:
            table.add_row(
                f"[{STATUS_STYLE[item.status]}]{item.status}[/]",
                escape(item.kind),
                escape(item.name),
                escape("; ".join(item.reasons)),
            )
        out.print(table)
        out.print("contract holds" if result.holds else "[bold red]contract broken[/]")
    raise typer.Exit(0 if result.holds else 1)


@app.command("doctor")
def doctor_cmd(json_out: JsonOpt = False) -> None:
    """Engine, runtimes, the GPU mode `auto` would pick, devices, driver, base image, model cache
    (with no harness.yaml here: the defaults)."""
    from harness.adapters.engine import connect
    from harness.adapters.gpu import HostGpuProbe
    from harness.cli import config_or_defaults
    from harness.ops.doctor import doctor

    cfg = config_or_defaults()
    rows = doctor(cfg, connect(os.environ).info, HostGpuProbe())
    if json_out:
        out.print_json(to_json([dataclasses.asdict(r) for r in rows]))
    else:
        table = Table(title="harness doctor")
        for column in ("", "area", "item", "value"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row("[green]ok[/]" if r.ok else "[bold red]!![/]", *map(escape, (r.area, r.item, r.value)))
        out.print(table)
    raise typer.Exit(0 if all(r.ok for r in rows) else 125)


@app.command("diff")
def diff_cmd(
    old: Annotated[str | None, typer.Argument(help="from (default: the production commit)")] = None,
    new: Annotated[str | None, typer.Argument(help="to (default: upstream HEAD, fetched)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write impact.md and impact.json here")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Impact report of upstream changes: commits, files, requirements, models, signatures, checklist."""
    from harness.ops.diff import diff, markdown
    from harness.store import Store

    cfg = load_config(state["config"])
    upstream = upstream_for(cfg)
    if old is None:
        production = Store(cfg.state_dir / "state.db").production()
        if production is None or not production.commit:
            raise UsageError("no production commit to diff from: give FROM explicitly")
        old = production.commit
    if new is None:
        new = "HEAD"  # resolved after a fetch (unless --offline)
    report = diff(upstream, old, new, _contract(cfg), overlays=cfg.suite.overlays, suite_models=_suite_models(cfg))
    doc = dataclasses.asdict(report)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "impact.md").write_text(markdown(report))
        (out_dir / "impact.json").write_text(to_json(doc))
    if json_out:
        out.print_json(to_json(doc))
    else:
        out.print(markdown(report), markup=False, highlight=False)


weights_app = typer.Typer(help="Model weights in the model cache.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("pull")
def weights_pull_cmd(
    ref: Annotated[str, typer.Option("--ref", help="upstream ref whose model definitions name the files")] = "HEAD",
    token_file: Annotated[
        Path | None, typer.Option(help="file holding the Hugging Face token (else $HF_TOKEN)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Download exactly the files the suite's models need into run.model_cache (network allowed).

    The files are resolved from the JSON model definitions at REF (no upstream code runs); the
    download runs harness's own downloader in the recipe's env image, not as root."""
    import datetime

    from harness.cli import ConsoleReporter, err, make_world
    from harness.ops.build_and_test import new_run_id
    from harness.ops.weights import pull_weights

    cfg = load_config(state["config"])
    token = token_file.read_text().strip() if token_file else os.environ.get("HF_TOKEN", "")
    reporter = ConsoleReporter(err, False)
    world = make_world(cfg, reporter)
    run_id = new_run_id(datetime.datetime.now(datetime.UTC))
    with reporter.status:
        report = pull_weights(
            cfg,
            world.upstream.resolve(ref),
            upstream=world.upstream,
            builder=world.builder,
            runner=world.runner,
            reporter=reporter,
            run_id=run_id,
            run_dir=cfg.state_dir / "weights" / run_id,
            token=token,
        )
    if json_out:
        out.print_json(to_json(report))
    else:
        out.print(escape(f"{len(report['files'])} files, {report['total_bytes'] / 2**30:.2f} GiB in {cfg.model_cache}"))
        for error in report["errors"]:
            err.print(f"failed: {error}", markup=False)
    raise typer.Exit(1 if report["errors"] else 0)

"""Looking without building: `harness check`, `doctor`, `diff`, and `weights pull`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

import harness.cli.world as world
from harness.cli.app import JsonOpt, app, err, out
from harness.config import Config
from harness.contract import Contract, ItemResult, Provenance
from harness.ops.check import CheckResult, check_commit
from harness.ops.diff import diff, markdown
from harness.ops.doctor import doctor
from harness.ops.weights import pull_weights_at
from harness.patches import series_for
from harness.refs import RefResolution
from harness.report import ConsoleReporter, to_json

STATUS_STYLE = {"ok": "green", "missing": "bold red", "changed": "bold red", "error": "bold red"}


def _contract(cfg: Config) -> Contract:
    return world.contract_for(cfg)


def _suite_models(cfg: Config) -> tuple[str, ...]:
    return tuple(c.model for c in cfg.suite.cases)


@app.command("check")
def check_cmd(ref: Annotated[str, typer.Argument(help="upstream ref")], json_out: JsonOpt = False) -> None:
    """Check the integration contract at REF from git (ast, no checkout, no import): exit 0 holds, 1 broken."""
    cfg = world.config()
    upstream = world.upstream_for(cfg)
    contract = _contract(cfg)
    result = check_commit(
        upstream, upstream.resolve(ref), contract, overlays=cfg.suite.overlays, suite_models=_suite_models(cfg)
    )
    where = _where(contract)
    if json_out:
        items = [{**dataclasses.asdict(i), "where": list(where(i))} for i in result.items]
        doc = {"commit": dataclasses.asdict(result.commit), "holds": result.holds, "seconds": round(result.seconds, 3)}
        out.print_json(to_json({**doc, "items": items}))
    else:
        _print_check(result, upstream.resolution(ref), where, contract.provenance)
    raise typer.Exit(0 if result.holds else 1)


def _where(contract: Contract) -> Callable[[ItemResult], tuple[str, ...]]:
    """Where the wrapper uses an item (a derived contract's provenance; () for a written one)."""
    provenance = contract.provenance
    return lambda item: provenance.of(item.kind, item.name) if provenance is not None else ()


def _print_check(
    result: CheckResult,
    resolution: RefResolution | None,
    where: Callable[[ItemResult], tuple[str, ...]],
    provenance: Provenance | None,
) -> None:
    if resolution is not None and resolution.ref != resolution.sha:
        out.print(f"ref {escape(resolution.line())}", highlight=False)
    if provenance is not None:
        out.print(escape(f"contract derived from {provenance.wrapper} at {provenance.sha[:12]}"), highlight=False)
    table = Table(title=f"contract at {result.commit.short} ({result.commit.date[:10]}) in {result.seconds:.2f} s")
    for column in ("status", "kind", "item", "why"):
        table.add_column(column, overflow="fold")
    for item in result.items:
        places = where(item) if item.status != "ok" else ()
        used = f" (used at {', '.join(places[:3])}{', ...' if len(places) > 3 else ''})" if places else ""
        table.add_row(
            f"[{STATUS_STYLE[item.status]}]{item.status}[/]",
            escape(item.kind),
            escape(item.name),
            escape("; ".join(item.reasons) + used),
        )
    out.print(table)
    out.print("contract holds" if result.holds else "[bold red]contract broken[/]")


@app.command("doctor")
def doctor_cmd(json_out: JsonOpt = False) -> None:
    """Engine, runtimes, the GPU mode `auto` would pick, devices, driver, base image, model cache
    (with no harness.yaml here: the defaults)."""
    cfg = world.config_or_defaults()
    rows = doctor(cfg, world.engine().info, world.gpu())
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
    cfg = world.config()
    upstream = world.upstream_for(cfg)
    report = diff(
        upstream,
        old,
        new,
        _contract(cfg),
        overlays=cfg.suite.overlays,
        suite_models=_suite_models(cfg),
        production=lambda: world.store(cfg).production(),
        series=series_for(cfg.wrapper),
    )
    doc = dataclasses.asdict(report)
    if out_dir is not None:
        world.write_impact(report, out_dir)
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
    cfg = world.config()
    token = token_file.read_text().strip() if token_file else os.environ.get("HF_TOKEN", "")
    reporter = ConsoleReporter(err, False)
    ports = world.make_world(cfg, reporter)
    with reporter.status:
        report = pull_weights_at(
            cfg,
            ref,
            upstream=ports.upstream,
            builder=ports.builder,
            runner=ports.runner,
            reporter=reporter,
            clock=ports.clock,
            token=token,
        )
    if json_out:
        out.print_json(to_json(report))
    else:
        out.print(escape(f"{len(report['files'])} files, {report['total_bytes'] / 2**30:.2f} GiB in {cfg.model_cache}"))
        for error in report["errors"]:
            err.print(f"failed: {error}", markup=False)
    raise typer.Exit(1 if report["errors"] else 0)

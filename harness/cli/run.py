"""`harness build-and-test`, and the run store's commands: history, show, backup, sample."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import harness.cli.world as world
from harness.cli.app import JsonOpt, app, err, out
from harness.config import Config, refuse_unchecked_level
from harness.errors import EXIT_PASS, HarnessError, UsageError
from harness.model import LEVELS, Verdict
from harness.ops.build_and_test import build_and_test
from harness.ops.parallel import run_many
from harness.plan import Plan, load_plan
from harness.report import ConsoleReporter, history_table, lock_lines, lock_of, print_record, record_dict, to_json
from harness.sample.make import write_sample


@app.command("build-and-test")
def build_and_test_cmd(
    refs: Annotated[
        list[str], typer.Argument(help="sha (full or short), branch, tag, HEAD, HEAD~3; several at once: one GPU each")
    ],
    rebuild: Annotated[bool, typer.Option(help="rebuild the commit image even if it exists")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="rebuild env, deps and commit images without the engine's layer cache")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every build/run line")] = False,
    level: Annotated[
        str | None, typer.Option(help="contract | smoke | baseline (default: the deepest this host can run)")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=64, help="several refs on a host without GPUs: runs at once")] = 2,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan (what would be built and run) and exit 0")
    ] = False,
    wrapper_ref: Annotated[
        str | None,
        typer.Option("--wrapper-ref", help="wrapper mode: test this commit of the wrapper (default wrapper.ref)"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build the image of REF, run the suite in it, judge the videos, record the run."""
    if level is not None and level not in LEVELS:
        raise UsageError(f"--level {level!r}: allowed: {', '.join(LEVELS)}")

    cfg = world.config()
    refuse_unchecked_level(cfg, level)
    derived = world.derived_contract(cfg, ref=wrapper_ref)
    plan = load_plan(
        cfg, ref=refs[0], level=level, rebuild=rebuild, no_cache=no_cache, wrapper_ref=wrapper_ref, derived=derived
    )
    if dry_run:
        _print_plans([plan.for_ref(ref, plan.level) for ref in refs], json_out=json_out)
    reporter = ConsoleReporter(err, verbose)
    if len(refs) > 1:  # --rebuild and --no-cache apply to a single ref only (as before the plan)
        many = dataclasses.replace(plan, rebuild=False, no_cache=False)
        _build_and_test_many(cfg, many, refs, reporter, parallel=parallel, json_out=json_out)
    ports = world.make_world(cfg, reporter)
    with reporter.status:
        result = build_and_test(plan, ports)
    if json_out:
        out.print_json(to_json(record_dict(result.record)))
    else:
        print_record(out, result.record)
    raise typer.Exit(result.record.verdict.exit_code)


def _build_and_test_many(
    cfg: Config, plan: Plan, refs: list[str], reporter: ConsoleReporter, *, parallel: int, json_out: bool
) -> None:
    with reporter.status:
        outcomes = run_many(
            plan,
            refs,
            make_world=lambda: world.make_world(cfg, reporter),
            scheduler=world.scheduler(cfg, slots=parallel),
            reap=world.reaper(cfg),
        )
    docs, codes = [], []
    for ref, outcome in outcomes.items():
        if isinstance(outcome, HarnessError):
            err.print(f"[bold red]error:[/] {escape(f'{ref}: {outcome}')}", highlight=False)
            docs.append({"ref": ref, "error": str(outcome)})
            codes.append(outcome.exit_code)
            continue
        docs.append({"ref": ref, **record_dict(outcome.record)})
        codes.append(outcome.record.verdict.exit_code)
        if not json_out:
            print_record(out, outcome.record)
    if json_out:
        out.print_json(to_json(docs))
    worst = max(codes, key=lambda c: {0: 0, Verdict.ERROR.exit_code: 1, 1: 2}.get(c, 3))
    raise typer.Exit(worst)


def _print_plans(plans: list[Plan], *, json_out: bool) -> None:
    """`--dry-run`: the plan of each ref, nothing built, run or resolved."""
    if json_out:
        docs = [plan.to_dict() for plan in plans]
        out.print_json(to_json(docs[0] if len(docs) == 1 else docs))
    else:
        for plan in plans:
            out.print("\n".join(escape(line) for line in plan.lines()), highlight=False)
    raise typer.Exit(EXIT_PASS)


@app.command("history")
def history_cmd(json_out: JsonOpt = False, limit: Annotated[int, typer.Option(min=1, max=10000)] = 50) -> None:
    """Recorded runs, newest first."""
    store = world.store(world.config())
    records, gone = store.runs(limit), store.unreachable()
    if json_out:
        out.print_json(to_json([record_dict(r) | {"unreachable": r.commit in gone} for r in records]))
    else:
        out.print(history_table(records, gone))


@app.command("show")
def show_cmd(
    run: Annotated[str, typer.Argument(help="run id or a unique prefix")],
    json_out: JsonOpt = False,
    lock: Annotated[bool, typer.Option("--lock", help="list every package of the image's deps lock")] = False,
) -> None:
    """One run: verdict per case, with the reasons, paths and timings, and its image's deps lock."""
    record = world.store(world.config()).run(run)
    if record is None:
        raise UsageError(f"no run {run!r} (or the prefix matches several); see `harness history`")
    labels = world.image_labels(record.image_id) if record.image_id else None
    if json_out:
        doc = record_dict(record)
        doc["lock"] = lock_of(labels).splitlines() if labels and lock_of(labels) else None
        out.print_json(to_json(doc))
        return
    print_record(out, record)
    if record.image_id:
        for line in lock_lines(labels, full=lock):
            out.print(escape(line))


@app.command("backup")
def backup_cmd(target: Annotated[Path, typer.Argument(help="new file for the copy of the run store")]) -> None:
    """Copy the run store (runs, releases, bisects) consistently, even while harness writes."""
    if not target.parent.is_dir():
        raise UsageError(f"backup {target}: the folder {target.parent} does not exist; create it or pick another")
    if target.exists():
        raise UsageError(f"backup {target}: it exists; give a new file (a backup never overwrites)")
    world.store(world.config()).backup(target)
    out.print(escape(f"run store copied to {target} (integrity: {world.store_file(target).integrity()})"))


@app.command("sample")
def sample_cmd(folder: Annotated[Path, typer.Argument(help="where to create the sample upstream")]) -> None:
    """Create the bundled sample upstream (a mini Wan2GP git repo) and a harness.yaml for it."""
    config = write_sample(folder)
    out.print(escape(f"sample upstream and config written; try:\n  harness -c {config} build-and-test main"))

"""`harness bisect`: registered on the app of `harness.cli`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Annotated, Literal

import typer
from rich.table import Table

from harness.cli import ConsoleReporter, JsonOpt, app, err, handles_errors, make_world, out, state
from harness.config import Config, load_config
from harness.errors import UsageError
from harness.model import RunRecord, Verdict
from harness.report import STYLE, to_json

LEVELS = ("contract", "smoke", "baseline")


def _steps_table(steps: list) -> Table:  # type: ignore[type-arg]
    table = Table(title="bisect steps")
    for column in ("#", "commit", "verdict", "source", "seconds", "run", "summary"):
        table.add_column(column, overflow="fold")
    for i, s in enumerate(steps, 1):
        table.add_row(
            str(i),
            s.commit[:12],
            f"[{STYLE[s.verdict]}]{s.verdict.value}[/]",
            s.source,
            f"{s.seconds:.1f}",
            s.run_id,
            s.summary,
        )
    return table


def _parallel(reporter: ConsoleReporter, jobs: int) -> Callable[[Config, list[str], str], dict[str, RunRecord]]:
    """Probes of one round at once, one GPU each (or `jobs` at a time on a CPU host)."""
    from harness.adapters.gpu import HostGpuProbe
    from harness.ops.parallel import records, run_many, scheduler_for

    def run(cfg: Config, shas: list[str], level: str) -> dict[str, RunRecord]:
        scheduler = scheduler_for(cfg, HostGpuProbe(), slots=jobs, limit=jobs)
        return records(
            run_many(cfg, shas, make_world=lambda: make_world(cfg, reporter), scheduler=scheduler, level=level)
        )

    return run


@app.command("bisect")
@handles_errors
def bisect_cmd(
    good: Annotated[str | None, typer.Option("--good", help="a ref known to pass")] = None,
    bad: Annotated[str | None, typer.Option("--bad", help="a ref known to fail")] = None,
    level: Annotated[str, typer.Option(help=f"test level: {', '.join(LEVELS)}")] = "baseline",
    jobs: Annotated[int, typer.Option(min=1, max=64, help="probes per round, one GPU each (multisection)")] = 1,
    prefetch: Annotated[int, typer.Option(min=0, max=16, help="next probes' images built ahead (0: none)")] = 2,
    deps_failure: Annotated[
        str, typer.Option(help="a dependency install the commit breaks counts as: fail (default) or skip")
    ] = "fail",
    resume: Annotated[bool, typer.Option("--resume", help="finish the last interrupted bisect")] = False,
    log: Annotated[bool, typer.Option("--log", help="print the steps of the last bisect")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Find the first bad upstream commit between --good and --bad (first-parent history)."""
    from harness.adapters.docker_engine import DockerEngine
    from harness.adapters.git_repo import GitUpstream
    from harness.bisect_log import BisectLog, step_dict
    from harness.naming import owner_labels
    from harness.ops.bisect import BisectWorld, resume_session, run_bisect

    if level not in LEVELS:
        raise UsageError(f"--level {level!r}: allowed: {', '.join(LEVELS)}")
    if deps_failure not in ("fail", "skip"):
        raise UsageError(f"--deps-failure {deps_failure!r}: allowed: fail, skip")
    cfg = load_config(state["config"])
    reporter = ConsoleReporter(err, verbose)
    world = make_world(cfg, reporter)
    blog = BisectLog(world.store)
    if log:
        sessions = blog.sessions()
        if not sessions:
            raise UsageError("no bisect recorded yet")
        steps = blog.steps(sessions[0].id)
        if json_out:
            out.print_json(to_json({**dataclasses.asdict(sessions[0]), "steps": [step_dict(s) for s in steps]}))
        else:
            out.print(_steps_table(steps))
        return
    session_id = None
    if resume:
        session = resume_session(blog)
        good, bad, level, session_id = session.good, session.bad, session.level, session.id
    if not good or not bad:
        raise UsageError("give --good and --bad (or --resume, or --log)")
    owner = owner_labels(world.store.state_id(), cfg.state_dir)  # prefetch builders' containers
    bw = BisectWorld(
        world=world,
        log=blog,
        make_upstream=lambda: GitUpstream(cfg.upstream_url, cfg.mirror_dir),
        make_builder=lambda: DockerEngine(os.environ, owner=owner),
        parallel=_parallel(reporter, jobs) if jobs > 1 else None,
    )
    policy: Literal["fail", "skip"] = "skip" if deps_failure == "skip" else "fail"
    with reporter.status:
        report = run_bisect(
            cfg,
            bw,
            good_ref=good,
            bad_ref=bad,
            level=level,
            jobs=jobs,
            prefetch_builds=prefetch,
            policy=policy,
            session_id=session_id,
        )
    if json_out:
        doc = {
            "bisect": report.session.id,
            "commits": report.commits,
            "first_bad": report.answer.first_bad,
            "candidates": list(report.answer.candidates),
            "skipped": list(report.answer.skipped),
            "probes": [step_dict(s) for s in report.steps],
            "prefetched": list(report.prefetched),
            "culprit": dataclasses.asdict(report.culprit) if report.culprit else None,
        }
        out.print_json(to_json(doc))
        return
    out.print(_steps_table(list(report.steps)))
    fresh = sum(1 for s in report.steps if s.source == "fresh")
    out.print(
        f"{len(report.steps)} probes ({fresh} fresh) over {report.commits - 1} commits; "
        f"skipped: {', '.join(s[:12] for s in report.answer.skipped) or 'none'}"
    )
    if report.culprit is None:
        out.print(
            f"[yellow]skips hide the exact culprit[/]: the first bad commit is one of "
            f"{', '.join(c[:12] for c in report.answer.candidates)}"
        )
        return
    c = report.culprit
    out.print(f"[{STYLE[Verdict.FAIL]}]first bad commit[/] {c.commit.sha} ({c.commit.date}, {c.commit.author})")
    out.print(f"    {c.commit.subject}")
    out.print("integration surface: " + (", ".join(f"{p} +{a} -{d}" for p, a, d in c.integration) or "untouched"))
    out.print(f"diffstat: {len(c.files)} files, +{sum(f[1] for f in c.files)} -{sum(f[2] for f in c.files)}")
    r = c.requirements
    if not r.empty:
        out.print(
            "requirements: "
            + "; ".join(
                [f"added {a}" for a in r.added]
                + [f"removed {x}" for x in r.removed]
                + [f"{n}: {o} -> {nw}" for n, o, nw in r.repinned]
                + [f"{sign}{o}" for sign, o in r.options]
            )
        )

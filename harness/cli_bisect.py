"""`harness bisect`: registered on the app of `harness.cli`."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli import ConsoleReporter, JsonOpt, app, err, make_world, out, state, upstream_for
from harness.config import Config, load_config, refuse_unchecked_level
from harness.errors import UsageError
from harness.model import RunRecord, Verdict
from harness.report import STYLE, to_json

if TYPE_CHECKING:
    from harness.ops.bisect import Culprit
    from harness.plan import Plan

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
            escape(s.run_id),
            escape(s.summary),
        )
    return table


def _parallel(cfg: Config, reporter: ConsoleReporter, jobs: int) -> Callable[[Plan, list[str]], dict[str, RunRecord]]:
    """Probes of one round at once, one GPU each (or `jobs` at a time on a CPU host)."""
    from harness.adapters.docker_engine import DockerEngine
    from harness.adapters.gpu import HostGpuProbe
    from harness.ops.gc import session_id
    from harness.ops.parallel import reap_session, records, run_many, scheduler_for

    def run(plan: Plan, shas: list[str]) -> dict[str, RunRecord]:
        scheduler = scheduler_for(cfg.gpus, HostGpuProbe(), slots=jobs, limit=jobs)
        reap = functools.partial(reap_session, DockerEngine(os.environ), session_id())
        return records(
            run_many(plan, shas, make_world=lambda: make_world(cfg, reporter), scheduler=scheduler, reap=reap)
        )

    return run


@app.command("bisect")
def bisect_cmd(
    good: Annotated[str | None, typer.Option("--good", help="a ref known to pass")] = None,
    bad: Annotated[str | None, typer.Option("--bad", help="a ref known to fail")] = None,
    level: Annotated[str, typer.Option(help=f"test level: {', '.join(LEVELS)}")] = "baseline",
    jobs: Annotated[int, typer.Option(min=1, max=64, help="probes per round, one GPU each (multisection)")] = 1,
    prefetch: Annotated[int, typer.Option(min=0, max=16, help="next probes' images built ahead (0: none)")] = 2,
    deps_failure: Annotated[
        str, typer.Option(help="a dependency install the commit breaks counts as: fail (default) or skip")
    ] = "fail",
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="bisect this symptom only: a failure counts as bad when its summary or a failing case's "
            "reasons match TEXT (a substring ignoring upper/lower case, or a regex); other failures are skips",
        ),
    ] = "",
    case: Annotated[
        str, typer.Option("--case", help="only this suite case's failure counts as bad; other failures are skips")
    ] = "",
    resume: Annotated[bool, typer.Option("--resume", help="finish the last interrupted bisect")] = False,
    log: Annotated[bool, typer.Option("--log", help="print the steps of the last bisect")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Find the first bad upstream commit between --good and --bad (first-parent history)."""
    from harness.adapters.docker_engine import DockerEngine
    from harness.bisect import Symptom
    from harness.bisect_log import BisectLog, step_dict
    from harness.naming import owner_labels
    from harness.ops.bisect import BisectWorld, inside_merge_dict, resume_session, run_bisect
    from harness.plan import load_plan

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
        reason, case = session.reason, session.case
    if case and level != "baseline":
        raise UsageError(
            f"--case {case!r}: only baseline runs have cases ({level} has none); use --reason, or --level baseline"
        )
    if case and case not in {c.id for c in cfg.suite.cases}:
        raise UsageError(
            f"--case {case!r}: not a case of suite {cfg.suite.name!r}: {', '.join(c.id for c in cfg.suite.cases)}"
        )
    if not good or not bad:
        raise UsageError("give --good and --bad (or --resume, or --log)")
    refuse_unchecked_level(cfg, level)
    owner = owner_labels(world.store.state_id(), cfg.state_dir)  # prefetch builders' containers
    bw = BisectWorld(
        world=world,
        log=blog,
        make_upstream=lambda: upstream_for(cfg),
        make_builder=lambda: DockerEngine(os.environ, owner=owner),
        parallel=_parallel(cfg, reporter, jobs) if jobs > 1 else None,
    )
    policy: Literal["fail", "skip"] = "skip" if deps_failure == "skip" else "fail"
    with reporter.status:
        report = run_bisect(
            load_plan(cfg, ref=bad, level=level),
            bw,
            good_ref=good,
            bad_ref=bad,
            jobs=jobs,
            prefetch_builds=prefetch,
            policy=policy,
            session_id=session_id,
            symptom=Symptom(reason=reason, case=case),
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
            "symptom": {"reason": reason, "case": case},
            "inside_merge": inside_merge_dict(report.inside_merge) if report.inside_merge else None,
        }
        out.print_json(to_json(doc))
        return
    out.print(_steps_table(list(report.steps)))
    fresh = sum(1 for s in report.steps if s.source == "fresh")
    also = f" (+{report.inside_merge.commits} inside the merge)" if report.inside_merge else ""
    out.print(
        f"{len(report.steps)} probes ({fresh} fresh) over {report.commits - 1} commits{also}; "
        f"skipped: {', '.join(s[:12] for s in report.answer.skipped) or 'none'}"
    )
    if report.culprit is None:
        out.print(
            f"[yellow]skips hide the exact culprit[/]: the first bad commit is one of "
            f"{', '.join(c[:12] for c in report.answer.candidates)}"
        )
        return
    _print_culprit("first bad commit", report.culprit)
    inside = report.inside_merge
    while inside is not None:
        if inside.culprit is None:
            out.print(f"[yellow]inside the merge[/] {inside.merge[:12]}: {escape(inside.why_not)}", highlight=False)
            return
        out.print(
            f"inside the merge {inside.merge[:12]} ({inside.commits} commits from the merge base "
            f"{inside.base[:12]} to its second parent {inside.tip[:12]}):"
        )
        _print_culprit("first bad commit on the merged branch", inside.culprit)
        inside = inside.inside


def _print_culprit(title: str, c: Culprit) -> None:
    out.print(
        f"[{STYLE[Verdict.FAIL]}]{title}[/] {c.commit.sha} ({escape(c.commit.date)}, {escape(c.commit.author)})",
        highlight=False,
    )
    out.print(f"    {escape(c.commit.subject)}", highlight=False)
    out.print(
        "integration surface: " + (escape(", ".join(f"{p} +{a} -{d}" for p, a, d in c.integration)) or "untouched"),
        highlight=False,
    )
    out.print(f"diffstat: {len(c.files)} files, +{sum(f[1] for f in c.files)} -{sum(f[2] for f in c.files)}")
    r = c.requirements
    if not r.empty:
        out.print(
            "requirements: "
            + escape(
                "; ".join(
                    [f"added {a}" for a in r.added]
                    + [f"removed {x}" for x in r.removed]
                    + [f"{n}: {o} -> {nw}" for n, o, nw in r.repinned]
                    + [f"{sign}{o}" for sign, o in r.options]
                )
            ),
            highlight=False,
        )

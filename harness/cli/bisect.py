"""`harness bisect`: find the first bad upstream commit, resume one, or print the last one's steps."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import typer

import harness.cli.world as world
from harness.bisect import Symptom
from harness.bisect_log import step_dict
from harness.cli.app import JsonOpt, app, err, out
from harness.cli.render import bisect_doc, print_bisect, steps_table
from harness.config import Config, refuse_unchecked_level
from harness.errors import UsageError
from harness.model import LEVELS, SIDES, Side, as_side
from harness.ops.bisect import resume_session, run_bisect
from harness.ops.probe import UPSTREAM_ONLY, BisectWorld, Sides
from harness.plan import Plan, load_plan
from harness.ports import BisectRecords
from harness.report import ConsoleReporter, to_json

GoodOpt = Annotated[str | None, typer.Option("--good", help="a ref known to pass")]
BadOpt = Annotated[str | None, typer.Option("--bad", help="a ref known to fail")]
LevelOpt = Annotated[str, typer.Option(help=f"test level: {', '.join(LEVELS)}")]
JobsOpt = Annotated[int, typer.Option(min=1, max=64, help="probes per round, one GPU each (multisection)")]
PrefetchOpt = Annotated[int, typer.Option(min=0, max=16, help="next probes' images built ahead (0: none)")]
DepsFailureOpt = Annotated[
    str, typer.Option(help="a dependency install the commit breaks counts as: fail (default) or skip")
]
ReasonOpt = Annotated[
    str,
    typer.Option(
        "--reason",
        help="bisect this symptom only: a failure counts as bad when its summary or a failing case's "
        "reasons match TEXT (a substring ignoring upper/lower case, or a regex); other failures are skips",
    ),
]
CaseOpt = Annotated[
    str, typer.Option("--case", help="only this suite case's failure counts as bad; other failures are skips")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="finish the last interrupted bisect")]
LogOpt = Annotated[bool, typer.Option("--log", help="print the steps of the last bisect")]
SideOpt = Annotated[
    str, typer.Option("--side", help="wrapper mode: walk upstream's commits (default) or the wrapper's (wrapper)")
]
UpstreamRefOpt = Annotated[
    str, typer.Option("--upstream-ref", help="--side wrapper: upstream's commit, fixed for every probe")
]
WrapperRefOpt = Annotated[
    str | None, typer.Option("--wrapper-ref", help="wrapper mode: the wrapper's commit, fixed (default wrapper.ref)")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v")]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Request:
    """What to bisect: the options, or the interrupted session that --resume finishes."""

    good: str
    bad: str
    level: str
    symptom: Symptom
    session_id: str | None = None  # the interrupted session's, when resumed
    side: Side = "upstream"
    fixed_ref: str | None = None  # the other side's ref (wrapper mode); a resumed session's sha


@app.command("bisect")
def bisect_cmd(
    good: GoodOpt = None,
    bad: BadOpt = None,
    level: LevelOpt = "baseline",
    jobs: JobsOpt = 1,
    prefetch: PrefetchOpt = 2,
    deps_failure: DepsFailureOpt = "fail",
    reason: ReasonOpt = "",
    case: CaseOpt = "",
    resume: ResumeOpt = False,
    log: LogOpt = False,
    side: SideOpt = "upstream",
    upstream_ref: UpstreamRefOpt = "HEAD",
    wrapper_ref: WrapperRefOpt = None,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Find the first bad upstream commit between --good and --bad (first-parent history); in
    wrapper mode, with --side wrapper, the first bad commit of the wrapper with upstream fixed."""
    policy = _policy(level, deps_failure)
    cfg = world.config()
    reporter = ConsoleReporter(err, verbose)
    ports = world.bisect_world(cfg, reporter, jobs=jobs)
    if log:
        _print_log(ports.log, json_out=json_out)
        return
    walked = _side(side)
    asked = _Request(
        good=good or "",
        bad=bad or "",
        level=level,
        symptom=Symptom(reason=reason, case=case),
        side=walked,
        fixed_ref=upstream_ref if walked == "wrapper" else wrapper_ref,
    )
    request = _checked(cfg, _resumed(ports.log) if resume else asked)
    with reporter.status:
        sides = _sides(cfg, ports, request)
        report = run_bisect(
            _plan(cfg, request, sides),
            ports,
            good_ref=request.good,
            bad_ref=request.bad,
            jobs=jobs,
            prefetch_builds=prefetch,
            policy=policy,
            session_id=request.session_id,
            symptom=request.symptom,
            sides=sides,
        )
    if json_out:
        out.print_json(to_json(bisect_doc(report, request.symptom)))
    else:
        print_bisect(out, report)


def _policy(level: str, deps_failure: str) -> Literal["fail", "skip"]:
    """The options checked before anything is opened; the dependency-failure policy they give."""
    if level not in LEVELS:
        raise UsageError(f"--level {level!r}: allowed: {', '.join(LEVELS)}")
    if deps_failure not in ("fail", "skip"):
        raise UsageError(f"--deps-failure {deps_failure!r}: allowed: fail, skip")
    return "skip" if deps_failure == "skip" else "fail"


def _side(value: str) -> Side:
    if value not in SIDES:
        raise UsageError(f"--side {value!r}: allowed: {', '.join(SIDES)}")
    return as_side(value)


def _plan(cfg: Config, request: _Request, sides: Sides) -> Plan:
    """The plan of the bad end. With `contract: derived`, the contract of the wrapper commit
    the run uses: the fixed one, or with --side wrapper the bad end's (a contract-level walk of
    the wrapper's side checks one upstream commit: the contract does not vary per probe)."""
    upstream_side = sides.side == "upstream"
    return load_plan(
        cfg,
        ref=request.bad if upstream_side else sides.fixed,
        level=request.level,
        derived=world.derived_contract(cfg, ref=sides.fixed if upstream_side else request.bad),
    )


def _sides(cfg: Config, ports: BisectWorld, request: _Request) -> Sides:
    """The walked side and the other side's commit, resolved once (wrapper mode), or upstream alone."""
    if cfg.wrapper is None:
        if request.side == "wrapper" or (request.fixed_ref and request.side == "upstream"):
            raise UsageError("--side wrapper and --wrapper-ref need a `wrapper:` section in harness.yaml")
        return UPSTREAM_ONLY
    if request.side == "wrapper":
        return Sides(side="wrapper", fixed=ports.world.upstream.resolve(request.fixed_ref or "HEAD").sha)
    return world.upstream_walk(cfg, ports, request.fixed_ref)


def _resumed(log: BisectRecords) -> _Request:
    session = resume_session(log)
    return _Request(
        good=session.good,
        bad=session.bad,
        level=session.level,
        symptom=Symptom(reason=session.reason, case=session.case),
        session_id=session.id,
        side=session.side,
        fixed_ref=session.fixed or None,
    )


def _checked(cfg: Config, request: _Request) -> _Request:
    """Refuse a --case the level or the suite cannot judge, missing endpoints, an unchecked level."""
    case, level = request.symptom.case, request.level
    if case and level != "baseline":
        raise UsageError(
            f"--case {case!r}: only baseline runs have cases ({level} has none); use --reason, or --level baseline"
        )
    if case and case not in {c.id for c in cfg.suite.cases}:
        raise UsageError(
            f"--case {case!r}: not a case of suite {cfg.suite.name!r}: {', '.join(c.id for c in cfg.suite.cases)}"
        )
    if not request.good or not request.bad:
        raise UsageError("give --good and --bad (or --resume, or --log)")
    if request.side == "wrapper" and level != "baseline":
        raise UsageError(
            f"--side wrapper --level {level}: only the baseline level runs the wrapper's code; use --level baseline"
        )
    refuse_unchecked_level(cfg, level)
    return request


def _print_log(log: BisectRecords, *, json_out: bool) -> None:
    """The steps of the last bisect recorded."""
    sessions = log.sessions()
    if not sessions:
        raise UsageError("no bisect recorded yet")
    steps = log.steps(sessions[0].id)
    if json_out:
        out.print_json(to_json({**dataclasses.asdict(sessions[0]), "steps": [step_dict(s) for s in steps]}))
    else:
        out.print(steps_table(steps))

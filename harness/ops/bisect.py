"""bisect: find the first bad upstream commit over per-commit images, reusing every record.

Endpoints are checked first; each probe is build-and-test at the chosen level unless a
run for that commit, suite and level is already recorded. While one probe runs, the next
probes of both possible outcomes are built in the background (`jobs`), and kept as images.
Infra verdicts are skips. Bisect never touches production; last-good only moves forward.
With a symptom (--reason, --case), a failure that does not show it is a skip too. When the
first bad commit is a merge, the branch it merged is bisected as well (merge base to its
second parent) and the commit there is named, or why it cannot be.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from harness.bisect import (
    ANY_FAILURE,
    Answer,
    Symptom,
    answer,
    endpoint_problem,
    next_probe,
    next_round,
    prefetch,
)
from harness.errors import BisectError
from harness.model import BisectSession, BisectStep, Commit, Level, Side, Verdict
from harness.ops.build_and_test import new_run_id
from harness.ops.culprit import Culprit, InsideMerge, culprit_report, inside_merge, inside_merge_dict
from harness.ops.probe import UPSTREAM_ONLY, BisectWorld, DepsPolicy, Prober, Sides, build_ahead
from harness.plan import Plan
from harness.ports import BisectRecords, Reporter, Upstream


@dataclass(frozen=True, kw_only=True)
class BisectReport:
    session: BisectSession
    commits: int
    steps: tuple[BisectStep, ...]
    answer: Answer
    culprit: Culprit | None
    prefetched: tuple[str, ...]
    inside_merge: InsideMerge | None = None


def run_bisect(
    plan: Plan,
    bw: BisectWorld,
    *,
    good_ref: str,
    bad_ref: str,
    jobs: int = 1,
    prefetch_builds: int = 2,
    policy: DepsPolicy,
    session_id: str | None = None,
    symptom: Symptom = ANY_FAILURE,
    sides: Sides = UPSTREAM_ONLY,
) -> BisectReport:
    """Bisect at the plan's level, every probe by the one plan (read once, hashed once).
    `jobs` probes per round (one GPU each, multisection); `prefetch_builds` images of the
    next probes built while one probe runs (plain bisection, jobs == 1)."""
    if plan.level is None:
        raise BisectError("a bisect probes at one level: give the plan a level (contract, smoke or baseline)")
    walked = _walked(bw, sides.side)
    good, bad = walked.resolve(good_ref), walked.resolve(bad_ref)
    commits = walked.first_parent_range(good.sha, bad.sha)
    session = _start(plan, bw, plan.level, good=good, bad=bad, session_id=session_id, symptom=symptom, sides=sides)
    _announce(bw.world.reporter, walked, (good_ref, bad_ref), session, len(commits), symptom)
    plan = sides.plan(plan, bad.sha)  # the fixed side pinned: parallel probes vary upstream only
    prober = Prober(plan, bw, session, policy)
    prober.probe_endpoint(good.sha, "good")
    prober.probe_endpoint(bad.sha, "bad")
    problem = endpoint_problem(good.sha, bad.sha, prober.verdicts)
    if problem:
        raise BisectError(f"{_other_failure(prober, bad.sha) or problem} (endpoints checked before any further build)")
    prefetched = _probe_range(prober, commits, jobs=jobs, prefetch_builds=prefetch_builds)
    result = answer(commits, prober.verdicts)
    culprit = culprit_report(walked, result.first_bad) if result.first_bad else None
    inside = inside_merge(prober, walked, result.first_bad) if result.first_bad else None
    bw.log.finish(
        session.id,
        bw.world.clock().isoformat(timespec="seconds"),
        {
            "first_bad": result.first_bad,
            "candidates": list(result.candidates),
            "skipped": list(result.skipped),
            "inside_merge": inside_merge_dict(inside) if inside else None,
        },
    )
    return BisectReport(
        session=session,
        commits=len(commits),
        steps=tuple(bw.log.steps(session.id)),
        answer=result,
        culprit=culprit,
        prefetched=prefetched,
        inside_merge=inside,
    )


def _walked(bw: BisectWorld, side: Side) -> Upstream:
    """The repository a bisect walks: upstream's, or (`--side wrapper`) the wrapper's."""
    if side == "upstream":
        return bw.world.upstream
    if bw.world.wrapper is None:
        raise BisectError("--side wrapper needs a `wrapper:` section in harness.yaml")
    return bw.world.wrapper


def _start(
    plan: Plan,
    bw: BisectWorld,
    level: Level,
    *,
    good: Commit,
    bad: Commit,
    session_id: str | None,
    symptom: Symptom,
    sides: Sides,
) -> BisectSession:
    """The bisect's session in the log (a resumed one keeps its id)."""
    now = bw.world.clock()
    session = BisectSession(
        id=session_id or f"b{new_run_id(now)}",
        good=good.sha,
        bad=bad.sha,
        level=level,
        suite_hash=plan.suite_hash,
        started=now.isoformat(timespec="seconds"),
        finished="",
        answer={},
        reason=symptom.reason,
        case=symptom.case,
        side=sides.side,
        fixed=sides.fixed,
    )
    bw.log.start(session)
    return session


def _announce(
    reporter: Reporter,
    upstream: Upstream,
    refs: tuple[str, str],
    session: BisectSession,
    commits: int,
    symptom: Symptom,
) -> None:
    for ref in refs:
        resolution = upstream.resolution(ref)
        if resolution is not None and resolution.ref != resolution.sha:
            reporter.step(f"ref {resolution.line()}")
    walk = f"{session.side} " if session.fixed else ""
    fixed = (
        f" ({'upstream' if session.side == 'wrapper' else 'wrapper'} fixed at {session.fixed[:12]})"
        if session.fixed
        else ""
    )
    reporter.step(
        f"bisect {session.id}: {commits - 1} {walk}commits after {session.good[:12]} up to {session.bad[:12]}{fixed}"
    )
    if symptom.narrows:
        reporter.step(f"symptom: a commit is bad only when {symptom.describe()}; other failures are skips")


def _probe_range(prober: Prober, commits: list[str], *, jobs: int, prefetch_builds: int) -> tuple[str, ...]:
    """Probe until the first bad commit is found: rounds of `jobs` probes at once, then one at a
    time with the next probes' images built ahead. The commits whose image was built ahead."""
    submitted: dict[str, Future[None]] = {}
    ahead = prefetch_builds > 0 and prober.plan.level != "contract"
    pool = ThreadPoolExecutor(max_workers=prefetch_builds) if ahead else None
    state = prober.bw.world.store.state_id()  # read here: the store's connection stays in this thread
    try:
        while jobs > 1 and (batch := next_round(commits, prober.verdicts, jobs)):
            prober.probe_round(batch)  # multisection: the window shrinks by jobs+1 per round
        while (sha := next_probe(commits, prober.verdicts)) is not None:
            # Build ahead only while a fresh probe runs: a reused record leaves no time to fill.
            if pool is not None and prober.recorded(sha) is None:
                for nxt in prefetch(commits, prober.verdicts, sha, prefetch_builds):
                    if nxt not in submitted and prober.recorded(nxt) is None:
                        ahead_plan = prober.sides.plan(prober.plan, nxt)
                        submitted[nxt] = pool.submit(build_ahead, ahead_plan.build, prober.bw, ahead_plan.ref, state)
            prober.probe(sha)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return tuple(s for s, f in submitted.items() if f.done())


def _other_failure(prober: Prober, bad: str) -> str | None:
    """The bad endpoint fails, but not with the symptom: say so rather than 'not bad'."""
    record = prober.records.get(bad)
    if record is None or record.verdict is not Verdict.FAIL or prober.verdicts.get(bad) is not Verdict.SKIP:
        return None
    return (
        f"the bad endpoint {bad[:12]} fails, but not with the symptom ({prober.symptom.describe()}): "
        f"{record.summary}; check --reason/--case against `harness show {record.run_id}`"
    )


def resume_session(log: BisectRecords) -> BisectSession:
    unfinished = [s for s in log.sessions() if not s.finished]
    if not unfinished:
        raise BisectError("no interrupted bisect to resume (see `harness bisect --log`)")
    return unfinished[0]

"""bisect: find the first bad upstream commit over per-commit images, reusing every record.

Endpoints are checked first; each probe is build-and-test at the chosen level unless a
run for that commit, suite and level is already recorded. An endpoint with no recorded
verdict is built at once with the other and with the first probes; where the host has room
(a GPU each, or CPU runs) they also run at once, speculatively: a probe's run counts only once
the endpoints check out, and with no room the probes run after the endpoints. While one probe
runs, the next probes of both possible outcomes are built in the background
(`prefetch_builds`), and kept as images.
Infra verdicts are skips. Bisect never touches production; last-good only moves forward.
With a symptom (--reason, --case), a failure that does not show it is a skip too. When the
first bad commit is a merge, the branch it merged is bisected as well (merge base to its
second parent) and the commit there is named, or why it cannot be.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.bisect import (
    ANY_FAILURE,
    Answer,
    Speculation,
    Symptom,
    answer,
    endpoint_problem,
    next_probe,
    next_round,
    prefetch,
    speculate,
)
from harness.errors import BisectError
from harness.model import BisectSession, BisectStep, Commit, Level, Side, Verdict
from harness.ops.build_and_test import new_run_id
from harness.ops.culprit import Culprit, InsideMerge, culprit_report, inside_merge, inside_merge_dict
from harness.ops.probe import UPSTREAM_ONLY, Ahead, BisectWorld, DepsPolicy, Prober, Sides
from harness.plan import Plan
from harness.ports import BisectRecords, Reporter, Upstream


@dataclass(frozen=True, kw_only=True)
class BisectReport:
    session: BisectSession
    commits: int
    steps: tuple[BisectStep, ...]
    answer: Answer
    culprit: Culprit | None
    prefetched: tuple[str, ...]  # the commits whose image was asked of the background, in that order
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
    prefetched = _probe_all(prober, commits, jobs=jobs, prefetch_builds=prefetch_builds)
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


def _probe_all(prober: Prober, commits: list[str], *, jobs: int, prefetch_builds: int) -> tuple[str, ...]:
    """The endpoints, then the range, with images built in the background: speculatively at
    first (issue 18), then ahead of each probe. The commits whose image was asked of it."""
    background = 0 if prober.plan.level == "contract" else prefetch_builds  # contract: nothing is built
    guess = _speculation(prober, commits, jobs) if background else None  # --prefetch 0: none wanted
    together = _together(prober, guess)
    with Ahead(prober, workers=max(background, len(guess.builds) if guess else 0)) as ahead:
        if guess is not None:
            _speculate(prober, ahead, guess, together)
        _check_endpoints(prober, ahead, (commits[0], commits[-1]), together)
        _probe_range(prober, commits, ahead, jobs=jobs, prefetch_builds=prefetch_builds)
    return tuple(ahead.submitted)


def _speculation(prober: Prober, commits: list[str], jobs: int) -> Speculation | None:
    """What to build at once while an endpoint has no verdict to keep: the endpoints and the
    first probes, assuming the endpoints are as claimed; None for the plain order."""
    ends = (commits[0], commits[-1])
    return speculate(commits, {sha: v for sha in ends if (v := prober.kept(sha)) is not None}, jobs)


def _together(prober: Prober, guess: Speculation | None) -> tuple[str, ...]:
    """Which of the speculative commits are built *and run* at once: as many as the host has room
    for (a GPU each, or CPU runs), endpoints first; none when fewer than two fit. A probe that a
    record answers for is left to reuse it."""
    if guess is None or prober.bw.at_once is None or not prober.can_run_at_once():
        return ()
    fresh = [sha for sha in guess.builds if sha in guess.endpoints or prober.recorded(sha) is None]
    room = prober.bw.room()
    return tuple(fresh[:room]) if room >= 2 and len(fresh) >= 2 else ()


def _speculate(prober: Prober, ahead: Ahead, guess: Speculation, together: tuple[str, ...]) -> None:
    """Start every speculative build at once (the pool has a worker for each; those run at once
    build in their own workers), and say so."""
    started = [sha for sha in guess.endpoints if sha not in together and ahead.start(sha, endpoint=True)]
    started += [sha for sha in guess.probes if sha not in together and ahead.start(sha)]
    if len(started) + len(together) < 2:  # one build alone overlaps nothing: as good as the plain order
        return
    if not together:
        prober.bw.world.reporter.step(f"speculative: building {_listed(guess, tuple(started))} at once")
        return
    ahead_too = f"; building {_listed(guess, tuple(started))} ahead" if started else ""
    prober.bw.world.reporter.step(f"speculative: building and running {_listed(guess, together)} at once{ahead_too}")


def _listed(guess: Speculation, shas: tuple[str, ...]) -> str:
    """ "<good>, <bad> and midpoint <m>" for those of `shas` (the endpoints first)."""
    names = [sha[:12] for sha in guess.endpoints if sha in shas]
    probes = [sha[:12] for sha in guess.probes if sha in shas]
    if probes:
        names.append(f"{'midpoint' if len(guess.probes) == 1 else 'first round'} {', '.join(probes)}")
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _check_endpoints(prober: Prober, ahead: Ahead, ends: tuple[str, str], together: tuple[str, ...]) -> None:
    """Both endpoints judged (good, then bad), stopping when one is not as claimed. Those of
    `together` ran at once with the first probes; the others are probed now, once their image is
    built. A speculative probe's run is noted only once the endpoints check out: otherwise it is
    never a step of the bisect nor part of its answer (its run stays recorded, as any run is);
    a probe only built ahead is never run then."""
    ran, seconds = prober.run_at_once(list(together)) if together else ({}, 0.0)
    for sha, which in zip(ends, ("good", "bad"), strict=True):
        if sha in ran:
            prober.probe_endpoint(sha, which, ran=(ran[sha], seconds))
        else:
            ahead.claim(sha)
            prober.probe_endpoint(sha, which)
    problem = endpoint_problem(*ends, prober.verdicts)
    if problem:
        raise BisectError(
            f"{_other_failure(prober, ends[1]) or problem} (endpoints checked before any other probe counted)"
        )
    for sha in together:
        if sha not in ends and sha in ran:
            prober.note(sha, ran[sha], "fresh", seconds)


def _probe_range(prober: Prober, commits: list[str], ahead: Ahead, *, jobs: int, prefetch_builds: int) -> None:
    """Probe until the first bad commit is found: rounds of `jobs` probes at once, then one at a
    time with the next probes' images built ahead."""
    while jobs > 1 and (batch := next_round(commits, prober.verdicts, jobs)):
        for member in batch:
            ahead.claim(member)
        prober.probe_round(batch)  # multisection: the window shrinks by jobs+1 per round
    while (sha := next_probe(commits, prober.verdicts)) is not None:
        # Build ahead only while a fresh probe runs: a reused record leaves no time to fill.
        if prober.recorded(sha) is None:
            for nxt in prefetch(commits, prober.verdicts, sha, prefetch_builds):
                ahead.start(nxt)
        ahead.claim(sha)
        prober.probe(sha)


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

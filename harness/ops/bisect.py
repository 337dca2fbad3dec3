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

import dataclasses
import datetime
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from harness.bisect import (
    ANY_FAILURE,
    INFRA_VERDICTS,
    Answer,
    Symptom,
    answer,
    endpoint_problem,
    next_probe,
    next_round,
    prefetch,
    symptom_verdict,
)
from harness.errors import BisectError, EndpointInfra, HarnessError
from harness.model import BisectSession, BisectStep, Commit, Level, RunKey, RunRecord, StepSource, Verdict
from harness.ops.build import build_commit_image
from harness.ops.build_and_test import World, build_and_test, new_run_id
from harness.ops.check import check_planned, contract_record
from harness.plan import BuildPlan, Plan
from harness.ports import BisectRecords, ImageBuilder, Reporter, Upstream
from harness.reqdiff import RequirementChanges, requirement_changes

INTEGRATION_PATHS = ("wgp.py", "defaults/", "finetunes/", "shared/", "requirements.txt", "Dockerfile")
DepsPolicy = Literal["fail", "skip"]


@dataclass(frozen=True, kw_only=True)
class BisectWorld:
    world: World
    log: BisectRecords
    make_upstream: Callable[[], Upstream]  # prefetch threads get their own git and engine clients
    make_builder: Callable[[], ImageBuilder]
    # Several probes at once, one GPU each: (the plan at the bisect's level, shas) -> records by sha.
    # None: one at a time.
    parallel: Callable[[Plan, list[str]], dict[str, RunRecord]] | None = None


@dataclass(frozen=True, kw_only=True)
class Culprit:
    commit: Commit
    parent: str
    files: tuple[tuple[str, int, int], ...]
    integration: tuple[tuple[str, int, int], ...]
    requirements: RequirementChanges


@dataclass(frozen=True, kw_only=True)
class InsideMerge:
    """The branch a culprit merge brought in, bisected from the merge base to the second parent
    (the first parent is known good)."""

    merge: str
    base: str  # "" when the merged branch shares no history with the first parent
    tip: str  # the merge's second parent
    commits: int  # commits after the merge base up to the tip
    answer: Answer | None
    culprit: Culprit | None
    why_not: str  # why no commit inside the merge is named; "" when one is
    inside: InsideMerge | None = None  # the culprit on the branch is a merge too: its own branch


@dataclass(frozen=True, kw_only=True)
class BisectReport:
    session: BisectSession
    commits: int
    steps: tuple[BisectStep, ...]
    answer: Answer
    culprit: Culprit | None
    prefetched: tuple[str, ...]
    inside_merge: InsideMerge | None = None


class _Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def culprit_report(upstream: Upstream, sha: str) -> Culprit:
    parent = upstream.parent(sha) or sha
    files = tuple(upstream.diffstat(parent, sha))
    old = (upstream.read_file(parent, "requirements.txt") or b"").decode("utf-8", "replace")
    new = (upstream.read_file(sha, "requirements.txt") or b"").decode("utf-8", "replace")
    return Culprit(
        commit=upstream.commit(sha),
        parent=parent,
        files=files,
        integration=tuple(f for f in files if f[0].startswith(INTEGRATION_PATHS)),
        requirements=requirement_changes(old, new),
    )


class _Prober:
    def __init__(self, plan: Plan, bw: BisectWorld, session: BisectSession, policy: DepsPolicy) -> None:
        self.plan, self.bw, self.session, self.policy = plan, bw, session, policy
        self.symptom = Symptom(reason=session.reason, case=session.case)
        # The contract that judges this bisect's runs, hashed once with the plan (not per probe).
        self.contract_hash = plan.contract.digest
        self.verdicts: dict[str, Verdict] = {}
        self.records: dict[str, RunRecord] = {}

    def _recorded_run(self, sha: str) -> RunRecord | None:
        """The newest record that answers for this commit: same suite, contract and level."""
        key = RunKey(
            commit=sha,
            suite_hash=self.session.suite_hash,
            contract_hash=self.contract_hash,
            level=self.session.level,
        )
        runs = [r for r in self.bw.world.store.runs_for_commit(sha) if r.vouches_for(key)]
        return runs[0] if runs else None

    def recorded(self, sha: str) -> Verdict | None:
        run = self._recorded_run(sha)
        return self._judge(run) if run else None

    def _judge(self, record: RunRecord) -> Verdict:
        return symptom_verdict(self._as_bisect(record.verdict, record.image_id), record, self.symptom)

    def _as_bisect(self, verdict: Verdict, image_id: str) -> Verdict:
        # A FAIL with no image is a dependency install the commit itself broke; policy decides.
        if verdict is Verdict.FAIL and not image_id and self.policy == "skip":
            return Verdict.SKIP
        return verdict

    def _contract(self, sha: str) -> RunRecord:
        upstream, world = self.bw.world.upstream, self.bw.world
        result = check_planned(upstream, upstream.commit(sha), self.plan.contract)
        if result is None:  # the plan of level contract always has one (the bundled by default)
            raise BisectError("a bisect at level contract needs a contract to check")
        now = world.clock()
        record = contract_record(
            result,
            run_id=new_run_id(now),
            started=now.isoformat(timespec="seconds"),
            suite=self.plan.suite,
            suite_hash=self.session.suite_hash,
            contract_hash=self.contract_hash,  # _contract runs at level contract only
        )
        world.store.add_run(record)
        return record

    def probe(self, sha: str, *, reuse: bool = True) -> Verdict:
        started = time.monotonic()
        run = self._recorded_run(sha) if reuse else None
        source: StepSource
        if run:
            record, source = run, "reused"
        elif self.session.level == "contract":
            record, source = self._contract(sha), "fresh"
        else:
            self.bw.world.reporter.step(f"probe {sha[:12]}: build-and-test")
            record, source = build_and_test(self.plan.for_ref(sha, self.plan.level), self.bw.world).record, "fresh"
        return self.note(sha, record, source, time.monotonic() - started)

    def probe_endpoint(self, sha: str, which: str) -> None:
        """An endpoint the infra kept from judging (a pip read timeout in the env build was seen)
        is tried once more, fresh; twice infra stops the bisect with exit 125 and the reason,
        never "pick an older --good" (the endpoint was not shown to be bad or good)."""
        self.probe(sha)
        first = self.records[sha]
        if first.verdict not in INFRA_VERDICTS:
            return
        self.bw.world.reporter.step(f"{which} endpoint {sha[:12]}: infra ({first.summary}); trying once more")
        self.probe(sha, reuse=False)
        record = self.records[sha]
        if record.verdict in INFRA_VERDICTS:
            raise EndpointInfra(
                f"the {which} endpoint {sha[:12]} could not be tested, twice (infra, not the commit): "
                f"{record.summary}; fix the cause and run the bisect again"
            )

    def probe_round(self, batch: list[str]) -> None:
        """Probe several commits at once, one GPU each (multisection); record in batch order."""
        started = time.monotonic()
        fresh = [sha for sha in batch if self._recorded_run(sha) is None]
        if self.session.level == "contract" or len(fresh) < 2 or self.bw.parallel is None:
            for sha in batch:
                self.probe(sha)
            return
        self.bw.world.reporter.step(f"round: {len(fresh)} probes at once: {', '.join(s[:12] for s in fresh)}")
        results = self.bw.parallel(self.plan, fresh)
        for sha in batch:
            run = results.get(sha) or self._recorded_run(sha)
            if run is None:
                raise BisectError(f"probe {sha[:12]} produced no record")
            self.note(sha, run, "fresh" if sha in fresh else "reused", time.monotonic() - started)

    def note(self, sha: str, record: RunRecord, source: StepSource, seconds: float) -> Verdict:
        verdict = self._judge(record)
        self.verdicts[sha], self.records[sha] = verdict, record
        self.bw.log.add_step(
            self.session.id,
            BisectStep(
                commit=sha,
                verdict=verdict,
                source=source,
                seconds=round(seconds, 3),
                run_id=record.run_id,
                summary=record.summary,
            ),
        )
        other = record.verdict is Verdict.FAIL and self.symptom.narrows and not self.symptom.shown_by(record)
        note = " (a failure without the symptom: skipped)" if other else ""
        self.bw.world.reporter.step(f"probe {sha[:12]}: {verdict.value.upper()} ({source}) {record.summary}{note}")
        return verdict


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
) -> BisectReport:
    """Bisect at the plan's level, every probe by the one plan (read once, hashed once).
    `jobs` probes per round (one GPU each, multisection); `prefetch_builds` images of the
    next probes built while one probe runs (plain bisection, jobs == 1)."""
    if plan.level is None:
        raise BisectError("a bisect probes at one level: give the plan a level (contract, smoke or baseline)")
    upstream = bw.world.upstream
    good, bad = upstream.resolve(good_ref), upstream.resolve(bad_ref)
    commits = upstream.first_parent_range(good.sha, bad.sha)
    session = _start(plan, bw, plan.level, good=good, bad=bad, session_id=session_id, symptom=symptom)
    _announce(bw.world.reporter, upstream, (good_ref, bad_ref), session, len(commits), symptom)
    prober = _Prober(plan, bw, session, policy)
    prober.probe_endpoint(good.sha, "good")
    prober.probe_endpoint(bad.sha, "bad")
    problem = endpoint_problem(good.sha, bad.sha, prober.verdicts)
    if problem:
        raise BisectError(f"{_other_failure(prober, bad.sha) or problem} (endpoints checked before any further build)")
    prefetched = _probe_range(prober, commits, jobs=jobs, prefetch_builds=prefetch_builds)
    result = answer(commits, prober.verdicts)
    culprit = culprit_report(upstream, result.first_bad) if result.first_bad else None
    inside = _inside_merge(prober, upstream, result.first_bad) if result.first_bad else None
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


def _start(
    plan: Plan, bw: BisectWorld, level: Level, *, good: Commit, bad: Commit, session_id: str | None, symptom: Symptom
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
    reporter.step(f"bisect {session.id}: {commits - 1} commits after {session.good[:12]} up to {session.bad[:12]}")
    if symptom.narrows:
        reporter.step(f"symptom: a commit is bad only when {symptom.describe()}; other failures are skips")


def _probe_range(prober: _Prober, commits: list[str], *, jobs: int, prefetch_builds: int) -> tuple[str, ...]:
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
                        submitted[nxt] = pool.submit(_build_ahead, prober.plan.build, prober.bw, nxt, state)
            prober.probe(sha)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return tuple(s for s, f in submitted.items() if f.done())


def _other_failure(prober: _Prober, bad: str) -> str | None:
    """The bad endpoint fails, but not with the symptom: say so rather than 'not bad'."""
    record = prober.records.get(bad)
    if record is None or record.verdict is not Verdict.FAIL or prober.verdicts.get(bad) is not Verdict.SKIP:
        return None
    return (
        f"the bad endpoint {bad[:12]} fails, but not with the symptom ({prober.symptom.describe()}): "
        f"{record.summary}; check --reason/--case against `harness show {record.run_id}`"
    )


MERGE_DEPTH = 8  # merges of merges followed this deep (a branch merged into a merged branch...)


def _inside_merge(prober: _Prober, upstream: Upstream, merge: str, depth: int = 1) -> InsideMerge | None:
    """Bisect the branch a culprit merge brought in; None when `merge` is no merge."""
    side = upstream.merged_range(merge)
    if not side:
        return None
    tip = side[-1]
    base = side[0] if len(side) > 1 else ""

    def stop(why: str) -> InsideMerge:
        prober.bw.world.reporter.step(f"inside merge {merge[:12]}: {why}")
        return InsideMerge(
            merge=merge, base=base, tip=tip, commits=len(side) - 1, answer=None, culprit=None, why_not=why
        )

    if not base:
        return stop("the merged branch shares no history with the first parent: no merge base to bisect from")
    prober.bw.world.reporter.step(
        f"first bad commit {merge[:12]} is a merge: bisecting the branch it merged, "
        f"{len(side) - 1} commits after the merge base {base[:12]} up to its second parent {tip[:12]}"
    )
    if (verdict := prober.probe(tip)) is not Verdict.FAIL:
        return stop(
            f"the merged branch's tip {tip[:12]} is not bad here ({verdict.value}): the break comes from "
            "the merge itself (its conflict resolution, or the two sides together)"
        )
    if (verdict := prober.probe(base)) is not Verdict.PASS:
        return stop(f"the merge base {base[:12]} is not good here ({verdict.value}): nothing to bisect on the branch")
    while (sha := next_probe(side, prober.verdicts)) is not None:
        prober.probe(sha)
    result = answer(side, prober.verdicts)
    if result.first_bad is None:
        why = "skips hide the exact commit: it is one of " + ", ".join(c[:12] for c in result.candidates)
        prober.bw.world.reporter.step(f"inside merge {merge[:12]}: {why}")
        return InsideMerge(
            merge=merge, base=base, tip=tip, commits=len(side) - 1, answer=result, culprit=None, why_not=why
        )
    return InsideMerge(
        merge=merge,
        base=base,
        tip=tip,
        commits=len(side) - 1,
        answer=result,
        culprit=culprit_report(upstream, result.first_bad),
        why_not="",
        inside=_inside_merge(prober, upstream, result.first_bad, depth + 1) if depth < MERGE_DEPTH else None,
    )


def inside_merge_dict(inside: InsideMerge) -> dict[str, object]:
    return {
        "merge": inside.merge,
        "base": inside.base,
        "tip": inside.tip,
        "commits": inside.commits,
        "first_bad": inside.answer.first_bad if inside.answer else None,
        "candidates": list(inside.answer.candidates) if inside.answer else [],
        "skipped": list(inside.answer.skipped) if inside.answer else [],
        "culprit": dataclasses.asdict(inside.culprit) if inside.culprit else None,
        "why_not": inside.why_not,
        "inside_merge": inside_merge_dict(inside.inside) if inside.inside else None,
    }


def _build_ahead(plan: BuildPlan, bw: BisectWorld, sha: str, state: str) -> None:
    """Build a likely next probe; failures are left for the real probe to meet and judge."""
    upstream = bw.make_upstream()
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        build_commit_image(
            plan,
            upstream.commit(sha),
            upstream=upstream,
            builder=bw.make_builder(),
            reporter=_Quiet(),
            created=created,
            state=state,
        )
    except HarnessError:
        return


def resume_session(log: BisectRecords) -> BisectSession:
    unfinished = [s for s in log.sessions() if not s.finished]
    if not unfinished:
        raise BisectError("no interrupted bisect to resume (see `harness bisect --log`)")
    return unfinished[0]

"""A bisect's probes: each commit judged once (a record that vouches for it is reused), at the
bisect's level, by its one plan; several at once on several GPUs; likely next probes built ahead."""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from harness.bisect import INFRA_VERDICTS, Symptom, symptom_verdict
from harness.errors import BisectError, EndpointInfra, HarnessError
from harness.model import BisectSession, BisectStep, RunKey, RunRecord, Side, StepSource, Verdict
from harness.ops.build import WrapperSource, build_commit_image
from harness.ops.build_and_test import World, build_and_test, new_run_id, patch_conflict
from harness.ops.check import check_planned, contract_record
from harness.plan import BuildPlan, Plan
from harness.ports import BisectRecords, ImageBuilder, Upstream

DepsPolicy = Literal["fail", "skip"]


@dataclass(frozen=True, kw_only=True)
class BisectWorld:
    world: World
    log: BisectRecords
    make_upstream: Callable[[], Upstream]  # prefetch threads get their own git and engine clients
    make_builder: Callable[[], ImageBuilder]
    make_wrapper: Callable[[], Upstream | None] = lambda: None  # wrapper mode: the wrapper's repository
    # Several probes at once, one GPU each: (the plan at the bisect's level, shas) -> records by sha.
    # None: one at a time.
    parallel: Callable[[Plan, list[str]], dict[str, RunRecord]] | None = None
    # The speculative start (issue 18): the endpoints and first probes built and run at once, as
    # many as `room()` says the host takes (a GPU each, or CPU runs). None: one at a time.
    at_once: Callable[[Plan, list[str]], dict[str, RunRecord]] | None = None
    room: Callable[[], int] = lambda: 1


@dataclass(frozen=True, kw_only=True)
class Sides:
    """Which repository a bisect walks, and the other side's commit, fixed for every probe.

    Without a wrapper only upstream is walked (`fixed` is ""). In wrapper mode the walk is over
    upstream with the wrapper fixed, or (`--side wrapper`) over the wrapper with upstream fixed.
    """

    side: Side = "upstream"
    fixed: str = ""

    def plan(self, plan: Plan, sha: str) -> Plan:
        """The plan of the probe of `sha` (a commit of the walked side)."""
        if self.side == "wrapper":
            return plan.for_ref(self.fixed, plan.level).for_wrapper(sha)
        probe = plan.for_ref(sha, plan.level)
        return probe.for_wrapper(self.fixed) if self.fixed else probe

    def upstream_of(self, sha: str) -> str:
        return self.fixed if self.side == "wrapper" else sha

    def matches(self, record: RunRecord, sha: str) -> bool:
        """Whether `record` tested the pair this probe of `sha` tests."""
        return record.wrapper == (sha if self.side == "wrapper" else self.fixed)


UPSTREAM_ONLY = Sides()


class _Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


class Prober:
    def __init__(self, plan: Plan, bw: BisectWorld, session: BisectSession, policy: DepsPolicy) -> None:
        self.plan, self.bw, self.session, self.policy = plan, bw, session, policy
        self.sides = Sides(side=session.side, fixed=session.fixed)
        self.symptom = Symptom(reason=session.reason, case=session.case)
        # The contract that judges this bisect's runs, hashed once with the plan (not per probe).
        self.contract_hash = plan.contract.digest
        self.verdicts: dict[str, Verdict] = {}
        self.records: dict[str, RunRecord] = {}

    def _recorded_run(self, sha: str) -> RunRecord | None:
        """The newest record that answers for this commit: same suite, contract and level."""
        commit = self.sides.upstream_of(sha)
        key = RunKey(
            commit=commit,
            suite_hash=self.session.suite_hash,
            contract_hash=self.contract_hash,
            level=self.session.level,
        )
        runs = [
            r for r in self.bw.world.store.runs_for_commit(commit) if r.vouches_for(key) and self.sides.matches(r, sha)
        ]
        return runs[0] if runs else None

    def recorded(self, sha: str) -> Verdict | None:
        run = self._recorded_run(sha)
        return self._judge(run) if run else None

    def kept(self, sha: str) -> Verdict | None:
        """The recorded verdict an endpoint check keeps: None without a record, or with an infra
        one (probe_endpoint tests that endpoint again, fresh)."""
        run = self._recorded_run(sha)
        return None if run is None or run.verdict in INFRA_VERDICTS else self._judge(run)

    def _judge(self, record: RunRecord) -> Verdict:
        return symptom_verdict(self._as_bisect(record.verdict, record.image_id), record, self.symptom)

    def _as_bisect(self, verdict: Verdict, image_id: str) -> Verdict:
        # A FAIL with no image is a dependency install the commit itself broke; policy decides.
        if verdict is Verdict.FAIL and not image_id and self.policy == "skip":
            return Verdict.SKIP
        return verdict

    def _contract(self, sha: str) -> RunRecord:
        """The contract level's probe: the wrapper's patches, then the contract, from git (no build)."""
        upstream, world = self.bw.world.upstream, self.bw.world
        commit = upstream.commit(sha)
        conflict = patch_conflict(self.plan, commit, upstream, world.reporter)
        result = check_planned(upstream, commit, self.plan.contract) if conflict is None else None
        if result is None and conflict is None:  # the plan of level contract always has one (the bundled by default)
            raise BisectError("a bisect at level contract needs a contract to check")
        now = world.clock()
        record = contract_record(
            result,
            commit=sha,
            run_id=new_run_id(now),
            started=now.isoformat(timespec="seconds"),
            suite=self.plan.suite,
            suite_hash=self.session.suite_hash,
            contract_hash=self.contract_hash,  # _contract runs at level contract only
            refused=str(conflict) if conflict else "",
        )
        record = dataclasses.replace(record, wrapper=self.sides.fixed)  # the pair it answers for
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
            record, source = build_and_test(self.sides.plan(self.plan, sha), self.bw.world).record, "fresh"
        return self.note(sha, record, source, time.monotonic() - started)

    def probe_endpoint(self, sha: str, which: str, ran: tuple[RunRecord, float] | None = None) -> None:
        """An endpoint the infra kept from judging (a pip read timeout in the env build was seen)
        is tried once more, fresh; twice infra stops the bisect with exit 125 and the reason,
        never "pick an older --good" (the endpoint was not shown to be bad or good). `ran`: its
        run of the speculative start, and how long that took."""
        if ran is None:
            self.probe(sha)
        else:
            self.note(sha, ran[0], "fresh", ran[1])
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
        # Parallel probes vary upstream's commit only (run_many): a walk of the wrapper goes one at a time.
        one_at_a_time = self.session.level == "contract" or self.sides.side == "wrapper"
        if one_at_a_time or len(fresh) < 2 or self.bw.parallel is None:
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

    def can_run_at_once(self) -> bool:
        """Whether probes may go at once at all: build-and-test runs of upstream's commits (a
        contract probe builds nothing; a walk of the wrapper goes one at a time, as in rounds)."""
        return self.session.level != "contract" and self.sides.side == "upstream"

    def run_at_once(self, shas: list[str]) -> tuple[dict[str, RunRecord], float]:
        """Build and run `shas` at once (the speculative start); their records are in the store,
        but nothing is noted as a step: the endpoint check decides what the probes' runs are worth.
        A commit whose worker met an error has no record here (it is probed again, alone)."""
        assert self.bw.at_once is not None  # the caller asked room() first
        started = time.monotonic()
        records = self.bw.at_once(self.plan, shas)
        return records, time.monotonic() - started

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


class Ahead:
    """Images built in the background while the bisect runs probes: the speculative first
    builds, then each probe's likely successors (kept as images, subject to gc). A probe claims
    its image before it runs, so one image is never built twice at once."""

    def __init__(self, prober: Prober, workers: int) -> None:
        self.prober = prober
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
        self.state = prober.bw.world.store.state_id()  # read here: the store's connection stays in this thread
        self.submitted: dict[str, Future[None]] = {}

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        """Wait for the builds under way (an engine build is not cut short), drop the queued ones."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def start(self, sha: str, *, endpoint: bool = False) -> bool:
        """Build `sha`'s image in the background, unless that is under way or a record answers
        for `sha` (its probe reuses the record: no image needed; an endpoint's infra record does
        not, it is tested again). Whether it was started."""
        answered = self.prober.kept(sha) if endpoint else self.prober.recorded(sha)
        if self.pool is None or sha in self.submitted or answered is not None:
            return False
        plan = self.prober.sides.plan(self.prober.plan, sha)
        self.submitted[sha] = self.pool.submit(build_ahead, plan.build, self.prober.bw, plan.ref, self.state)
        return True

    def claim(self, sha: str) -> None:
        """Before `sha` is probed: wait for its build under way. One still queued is dropped: the
        probe builds it at once rather than wait behind builds it does not need."""
        future = self.submitted.get(sha)
        if future is not None and not future.cancel():
            wait([future])  # not .result(): a build ahead's failure is for the probe to meet


def build_ahead(plan: BuildPlan, bw: BisectWorld, sha: str, state: str) -> None:
    """Build a likely next probe (`sha` upstream's; in wrapper mode plan.wrapper.ref is the
    wrapper's sha); failures are left for the real probe to meet and judge."""
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
            wrapper=_wrapper_source(plan, bw),
        )
    except HarnessError:
        return


def _wrapper_source(plan: BuildPlan, bw: BisectWorld) -> WrapperSource | None:
    repo = bw.make_wrapper() if plan.wrapper else None
    if plan.wrapper is None or repo is None:
        return None
    return WrapperSource(repo=repo, commit=repo.commit(plan.wrapper.ref))

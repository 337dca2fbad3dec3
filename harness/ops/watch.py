"""watch: the seed's maintenance loop, unattended. One cycle: poll upstream, test the newest
new commit level by level (cheapest first), bisect a FAIL and write the culprit's impact
report, soak and auto-promote when the policy says so, re-validate production, clean up, and
deliver the events. Each step's result is in the store before the next starts (restart-safe);
infra failures are counted, escalated once and backed off, never judged.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import HarnessError, InfraError, PromotionRefused
from harness.events import Event, EventKind
from harness.model import Level, Release, RunRecord, Verdict
from harness.naming import LAST_GOOD
from harness.ports import Metrics, Reporter, Upstream, WatchStore
from harness.watch import (
    JUDGING,
    Bisecting,
    Streak,
    WatchState,
    arrived,
    auto_promotable,
    due,
    infra_failed,
    newest,
    next_actions,
    progress,
    soak_step,
    wait_s,
)
from harness.watchconfig import WatchConfig


@dataclass(frozen=True, kw_only=True)
class BisectOutcome:
    first_bad: str | None
    summary: str  # the culprit's subject, or why none was named


@dataclass(frozen=True, kw_only=True)
class Promotion:
    release: Release
    rolled_back: str  # "" or why the redeploy was rolled back automatically


@dataclass(frozen=True, kw_only=True)
class WatchWorld:
    """What the loop drives, each a port or a use case wired by the CLI (or a test's fake)."""

    config: WatchConfig
    upstream: Callable[[], Upstream]  # a client for one cycle: it fetches again each cycle
    store: WatchStore
    test: Callable[[str, Level], RunRecord]  # build-and-test one commit at one level, recorded
    recorded: Callable[[str, Level], RunRecord | None]  # the record that answers (commit, level) now
    bisect: Callable[[Bisecting], BisectOutcome]  # runs or resumes the session
    impact: Callable[[str], str]  # the culprit's impact report: the folder written
    baselines: Callable[[str], list[RunRecord]]  # an image's baseline records for this suite, newest first
    promote: Callable[[str], Promotion]  # an image id, promoted (and redeployed when configured)
    reconcile: Callable[[], None]
    reasons: Callable[[RunRecord], tuple[str, ...]]  # why production fails on this host
    retention: Callable[[], str]  # gc and video pruning: what went, in words
    deliver: Callable[[], None]  # the outbox to the receivers (never raises for a receiver)
    metrics: Metrics
    clock: Callable[[], datetime.datetime]
    reporter: Reporter
    fault: Callable[[str], None] = lambda point: None  # crash tests park here (fault_launcher.py)
    report: Callable[[], str] = lambda: ""  # the HTML report regenerated: what it did ("" nothing), in words


class Unjudged(InfraError):
    """A run that ended ERROR or SKIP: nothing about the commit is known (infra)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        super().__init__(f"{record.commit[:12]} {record.level}: {record.verdict.value}: {record.summary}")


def watch(w: WatchWorld, *, once: bool, sleep: Callable[[float], None]) -> WatchState:
    """Cycles until stopped (SIGTERM/Ctrl-C end it between or inside steps), or one with `once`."""
    while True:
        state = cycle(w)
        if once:
            return state
        pause = wait_s(
            state.streak,
            poll_s=w.config.poll_s,
            escalate_after=w.config.escalate_after,
            backoff_max_s=w.config.backoff_max_s,
        )
        _beat(w, state, f"sleeping {pause:.0f} s")
        sleep(pause)


def cycle(w: WatchWorld) -> WatchState:
    state = WatchState.from_doc(w.store.watch_state())
    newest = _newest_event(w)
    try:
        w.reconcile()  # a promotion killed half way is repaired before anything reads production
        upstream = w.upstream()
        state = _poll(w, upstream, state)
        state = _work(w, upstream, state)
        state = _revalidate(w, state)
        state = _retention(w, state)
        state = _save(w, _recovered(w, state))
    except InfraError as exc:
        state = _save(w, _infra(w, WatchState.from_doc(w.store.watch_state()), exc))
    w.deliver()
    if _newest_event(w) != newest:
        _regenerate(w)
    _beat(w, state, "cycle done")
    return state


def _newest_event(w: WatchWorld) -> int:
    events = w.store.events(1)
    return events[0].seq if events else 0


def _regenerate(w: WatchWorld) -> None:
    """The report after an event; a report that cannot be written never stops the loop."""
    _beat(w, WatchState.from_doc(w.store.watch_state()), "regenerating the report")
    try:
        said = w.report()
    except (HarnessError, OSError, ValueError) as exc:
        w.reporter.step(f"report: not regenerated: {exc}")
        return
    if said:
        w.reporter.step(said)


def _now(w: WatchWorld) -> str:
    return w.clock().isoformat(timespec="seconds")


def _save(w: WatchWorld, state: WatchState) -> WatchState:
    w.store.save_watch_state(state.to_doc())
    return state


def _beat(w: WatchWorld, state: WatchState, doing: str) -> None:
    now = w.clock()
    w.store.beat(
        {"pid": os.getpid(), "host": socket.gethostname(), "at": now.isoformat(timespec="seconds"), "doing": doing}
    )
    w.metrics.heartbeat(now.timestamp())
    w.metrics.queue_length(len(state.queue))


def _event(w: WatchWorld, kind: EventKind, key: str, **fields: str) -> None:
    if w.store.add_event(Event(kind=kind, key=key, created=_now(w), **fields)):
        w.reporter.step(f"event {kind}: {key}")


def _poll(w: WatchWorld, upstream: Upstream, state: WatchState) -> WatchState:
    _beat(w, state, "polling upstream")
    upstream.fetch()
    head = upstream.resolve(w.config.ref).sha
    state = dataclasses.replace(state, last_poll=_now(w))
    if head == state.head:
        return _save(w, state)
    known = state.head and upstream.is_ancestor(state.head, head)
    new = upstream.first_parent_range(state.head, head)[1:] if known else [head]
    w.reporter.step(f"upstream {w.config.ref} moved to {head[:12]}: {len(new)} new commit(s)")
    return _save(w, arrived(state, head, new))


def _work(w: WatchWorld, upstream: Upstream, state: WatchState) -> WatchState:
    """One piece of work: a bisect in progress, else the newest queued commit, else a soak step."""
    if state.bisecting is not None:
        return _bisect(w, state, state.bisecting)
    sha = newest(state)
    if sha is not None:
        return _test(w, upstream, state, sha)
    return _soak(w, state) if w.config.promote == "auto" else state


def _run(w: WatchWorld, state: WatchState, sha: str, level: Level) -> RunRecord:
    _beat(w, state, f"testing {sha[:12]} at {level}")
    record = w.test(sha, level)
    w.metrics.run_finished(level=level, verdict=record.verdict.value, seconds=record.build_seconds + record.run_seconds)
    if record.verdict is Verdict.PASS:
        w.metrics.succeeded(w.clock().timestamp())
    return record


def _test(w: WatchWorld, upstream: Upstream, state: WatchState, sha: str) -> WatchState:
    """The newest commit, level by level; each level's record is reused when it is there."""
    levels = w.config.levels
    recorded = {lv: r for lv in levels if (r := w.recorded(sha, lv)) is not None}
    step = progress(levels, recorded)
    while step.status == "test":
        record = _run(w, state, sha, step.level)
        if record.verdict not in JUDGING:
            raise Unjudged(record)
        recorded[step.level] = record
        step = progress(levels, recorded)
    done = dataclasses.replace(state, queue=())  # the older queued commits: answered by this one
    if step.status == "passed":
        rid = step.record.run_id if step.record else ""
        _event(w, "pass", f"pass:{sha}", commit=sha, level=step.level, verdict="pass", run_id=rid)
        return _save(w, dataclasses.replace(done, last_pass=sha))
    failed = step.record
    assert failed is not None  # progress gives the record of a failed level
    fields = {"commit": sha, "level": step.level, "verdict": failed.verdict.value, "run_id": failed.run_id}
    _event(w, "fail", f"fail:{sha}:{step.level}", summary=failed.summary, **fields)
    good = _good_end(w, upstream, state, sha)
    if step.status == "flaky" or not w.config.bisect or good is None:
        return _save(w, done)
    session = f"bwatch-{sha[:12]}-{step.level}"
    bisecting = Bisecting(session=session, good=good, bad=sha, level=step.level)
    return _bisect(w, _save(w, dataclasses.replace(done, bisecting=bisecting)), bisecting)


def _good_end(w: WatchWorld, upstream: Upstream, state: WatchState, bad: str) -> str | None:
    """The bisect's good end: the newest commit the watch saw pass, else last-good's commit."""
    pointer = w.store.pointer(LAST_GOOD)
    for good in (state.last_pass, pointer.commit if pointer else ""):
        if good and good != bad and upstream.is_ancestor(good, bad):
            return good
    w.reporter.step(f"no passing ancestor of {bad[:12]} known: no bisect")
    return None


def _bisect(w: WatchWorld, state: WatchState, b: Bisecting) -> WatchState:
    _beat(w, state, f"bisecting {b.good[:12]}..{b.bad[:12]} at {b.level}")
    outcome = w.bisect(b)
    report = w.impact(outcome.first_bad) if outcome.first_bad else ""
    _event(
        w,
        "culprit",
        f"culprit:{b.bad}:{b.level}",
        commit=b.bad,
        level=b.level,
        verdict="fail",
        culprit=outcome.first_bad or "",
        summary=outcome.summary,
        report=report,
    )
    return _save(w, dataclasses.replace(state, bisecting=None))


def _soak(w: WatchWorld, state: WatchState) -> WatchState:
    """Auto promotion of last-good: soak runs of its image, then the move (and deploy)."""
    pointer, production = w.store.pointer(LAST_GOOD), w.store.production()
    if pointer is None or (production is not None and production.image_id == pointer.image_id):
        return state
    if not auto_promotable(pointer.image_id, w.store.releases()):
        return state
    records = w.baselines(pointer.image_id)
    judged = [r for r in records if r.verdict in JUDGING]
    if judged and judged[0].verdict is not Verdict.PASS:
        return state  # its soak failed: it waits for a newer commit
    passes = [r for r in judged if r.verdict is Verdict.PASS]
    match soak_step(passes, w.config.soak, w.clock()):
        case "run":
            record = _run(w, state, pointer.commit, "baseline")
            if record.verdict not in JUDGING:
                raise Unjudged(record)
        case "wait":
            pass
        case "promote":
            if _promote(w, state, pointer.image_id, pointer.commit):
                # production's baseline just passed its soak: the next re-validation is a period away
                return _save(w, dataclasses.replace(state, last_revalidate=_now(w)))
    return state


def _promote(w: WatchWorld, state: WatchState, image_id: str, commit: str) -> bool:
    """Whether production moved to the image (and stayed there)."""
    _beat(w, state, f"promoting {commit[:12]}")
    w.fault("promote")
    try:
        moved = w.promote(image_id)
    except PromotionRefused as exc:  # e.g. the suite or contract changed since the soak: it waits
        w.reporter.step(f"auto promotion of {commit[:12]} refused: {exc}")
        return False
    rev = moved.release.revision
    if moved.rolled_back:
        _event(w, "rolled_back", f"rolled_back:{image_id}", commit=commit, summary=moved.rolled_back)
        return False
    why = f"release {rev}, after {w.config.soak.runs} passing baseline(s)"
    _event(w, "promoted", f"promoted:{image_id}", commit=commit, level="baseline", verdict="pass", summary=why)
    return True


def _revalidate(w: WatchWorld, state: WatchState) -> WatchState:
    """Production's baseline again: a failure is this host's (never upstream's); it is told,
    and promotion is left alone."""
    production = w.store.production()
    if production is None or not production.commit or not due(state.last_revalidate, w.config.revalidate_s, w.clock()):
        return state
    record = _run(w, state, production.commit, "baseline")
    if record.verdict is not Verdict.PASS:
        reasons = "; ".join(dict.fromkeys((record.summary, *w.reasons(record))))
        fields = {"commit": production.commit, "level": "baseline", "verdict": record.verdict.value}
        _event(
            w,
            "production_failing",
            f"production_failing:{record.run_id}",
            summary=reasons,
            run_id=record.run_id,
            **fields,
        )
    return _save(w, dataclasses.replace(state, last_revalidate=_now(w)))


def _retention(w: WatchWorld, state: WatchState) -> WatchState:
    if not due(state.last_retention, w.config.retention_s, w.clock()):
        return state
    _beat(w, state, "retention")
    w.reporter.step(f"retention: {w.retention()}")
    return _save(w, dataclasses.replace(state, last_retention=_now(w)))


def _infra_kind(exc: InfraError) -> str:
    if isinstance(exc, Unjudged):
        return f"{exc.record.verdict.value}: {exc.record.summary.split(':')[0][:80]}"
    return type(exc).__name__


def _infra(w: WatchWorld, state: WatchState, exc: InfraError) -> WatchState:
    streak, escalate = infra_failed(state.streak, _infra_kind(exc), w.config.escalate_after, _now(w))
    w.reporter.step(f"infra ({streak.count} in a row): {exc}")
    if escalate:
        w.metrics.escalated()
        summary = f"{streak.count} cycles in a row: {exc}; backing off"
        _event(w, "escalation", f"escalation:{streak.since}", summary=summary)
    return dataclasses.replace(state, streak=streak)


def _recovered(w: WatchWorld, state: WatchState) -> WatchState:
    if state.streak.count and state.streak.escalated:
        summary = f"after {state.streak.count} failing cycles ({state.streak.kind})"
        _event(w, "recovered", f"recovered:{state.streak.since}", summary=summary)
    return dataclasses.replace(state, streak=Streak()) if state.streak.count else state


@dataclass(frozen=True, kw_only=True)
class WatchView:
    """The watcher as `status` shows it."""

    running: str | None  # who holds the watch lock, or None: no watcher runs
    heartbeat: dict[str, object]
    state: WatchState
    pending_events: int
    next: tuple[str, ...]


def view(store: WatchStore, config: WatchConfig, now: datetime.datetime, running: str | None) -> WatchView:
    state = WatchState.from_doc(store.watch_state())
    return WatchView(
        running=running,
        heartbeat=store.heartbeat(),
        state=state,
        pending_events=len(store.pending_events()),
        next=next_actions(state, config, now, production=store.production() is not None),
    )

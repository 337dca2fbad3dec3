"""The watcher's decisions (pure): its state, what a new head queues, the next level of a
commit, when auto promotion may go, what is due, how infra failures escalate and back off.

The state is one document in the store (store/watch.py), rewritten after each step: a kill at
any point restarts from the last finished step, and a step whose run was recorded before the
kill is found by its record, never run twice.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.model import LEVELS, Level, Release, RunRecord, Verdict
from harness.watchconfig import Soak, WatchConfig

JUDGING = (Verdict.PASS, Verdict.FAIL, Verdict.FLAKY)  # verdicts that answer for a commit: never re-run


@dataclass(frozen=True, kw_only=True)
class Bisecting:
    """A bisect the watcher started after a FAIL: resumed by its session id after a restart."""

    session: str
    good: str
    bad: str
    level: Level


@dataclass(frozen=True, kw_only=True)
class Streak:
    """Infra failures in a row of one kind; `escalated` once the escalation event went out."""

    kind: str = ""
    count: int = 0
    escalated: bool = False
    since: str = ""  # when the streak began (its escalation's key)


@dataclass(frozen=True, kw_only=True)
class WatchState:
    head: str = ""  # the upstream head seen last
    last_pass: str = ""  # the newest commit that passed every watched level (a bisect's good end)
    queue: tuple[str, ...] = ()  # commits seen, not yet tested, oldest first
    bisecting: Bisecting | None = None
    last_poll: str = ""  # ISO times; "" never
    last_revalidate: str = ""
    last_retention: str = ""
    streak: Streak = field(default_factory=Streak)

    def to_doc(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, object]) -> WatchState:
        """The stored document; keys it does not know (a newer harness's) are ignored."""
        bis, streak = doc.get("bisecting"), doc.get("streak")
        return cls(
            head=str(doc.get("head", "")),
            last_pass=str(doc.get("last_pass", "")),
            queue=tuple(str(s) for s in _items(doc.get("queue"))),
            bisecting=_bisecting(bis) if isinstance(bis, dict) else None,
            last_poll=str(doc.get("last_poll", "")),
            last_revalidate=str(doc.get("last_revalidate", "")),
            last_retention=str(doc.get("last_retention", "")),
            streak=Streak(**streak) if isinstance(streak, dict) else Streak(),
        )


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _bisecting(doc: Mapping[str, object]) -> Bisecting:
    level: Level = next((lv for lv in LEVELS if lv == doc.get("level")), "baseline")
    return Bisecting(session=str(doc["session"]), good=str(doc["good"]), bad=str(doc["bad"]), level=level)


def arrived(state: WatchState, head: str, new: Sequence[str]) -> WatchState:
    """Upstream moved to `head`; `new` are the first-parent commits after the old head (oldest
    first; just [head] the first time or after a force-push)."""
    queue = [*state.queue, *(s for s in new if s not in state.queue)]
    return dataclasses.replace(state, head=head, queue=tuple(queue))


def newest(state: WatchState) -> str | None:
    """The commit to test: the newest queued. The older ones are passed over (a FAIL bisects
    them from last-good; a PASS of the newest answers for the branch)."""
    return state.queue[-1] if state.queue else None


Status = Literal["test", "failed", "flaky", "passed"]


@dataclass(frozen=True, kw_only=True)
class Progress:
    status: Status
    level: Level  # the level to test (test), that failed (failed, flaky), the deepest (passed)
    record: RunRecord | None = None


def progress(levels: Sequence[Level], recorded: Mapping[Level, RunRecord]) -> Progress:
    """How far a commit is: the first level without a judging record is next; a FAIL (or
    FLAKY) stops it there: deeper levels are never run after a cheaper one failed."""
    for level in levels:
        record = recorded.get(level)
        if record is None or record.verdict not in JUDGING:
            return Progress(status="test", level=level)
        if record.verdict is Verdict.FAIL:
            return Progress(status="failed", level=level, record=record)
        if record.verdict is Verdict.FLAKY:
            return Progress(status="flaky", level=level, record=record)
    return Progress(status="passed", level=levels[-1], record=recorded.get(levels[-1]))


SoakStep = Literal["promote", "run", "wait"]


def soak_step(passes: Sequence[RunRecord], soak: Soak, now: datetime.datetime) -> SoakStep:
    """Auto promotion of an image whose baseline passed: `runs` passing baselines of it in all
    (run another while fewer), and the first at least `age_s` old."""
    if len(passes) < soak.runs:
        return "run"
    first = min(datetime.datetime.fromisoformat(r.started) for r in passes)
    if first.tzinfo is None:
        first = first.replace(tzinfo=datetime.UTC)
    return "promote" if (now - first).total_seconds() >= soak.age_s else "wait"


def due(last: str, every_s: float, now: datetime.datetime) -> bool:
    """Whether a periodic task (every_s 0: never) is due; never done: due."""
    if every_s <= 0:
        return False
    return not last or (now - datetime.datetime.fromisoformat(last)).total_seconds() >= every_s


def infra_failed(streak: Streak, kind: str, escalate_after: int, now: str) -> tuple[Streak, bool]:
    """One more infra failure of `kind` (a different kind starts a new streak); True when this
    one raises the escalation: once per streak, at `escalate_after` in a row."""
    same = streak.kind == kind and streak.count > 0
    count = streak.count + 1 if same else 1
    escalate = count >= escalate_after and not (same and streak.escalated)
    escalated = escalate or (same and streak.escalated)
    return Streak(kind=kind, count=count, escalated=escalated, since=streak.since if same else now), escalate


def auto_promotable(image_id: str, releases: Sequence[Release]) -> bool:
    """Auto promotion never retries an image whose deploy was rolled back automatically."""
    return not any(r.action == "auto-rollback" and r.from_image_id == image_id for r in releases)


def wait_s(streak: Streak, *, poll_s: float, escalate_after: int, backoff_max_s: float) -> float:
    """The pause before the next cycle: poll_s, doubling per failure past the escalation."""
    past = streak.count - escalate_after + 1 if streak.count >= escalate_after else 0
    return float(min(max(backoff_max_s, poll_s), poll_s * 2 ** min(past, 30)))


def next_actions(
    state: WatchState, config: WatchConfig, now: datetime.datetime, *, production: bool
) -> tuple[str, ...]:
    """What the watcher does next, in words (for `harness status`)."""
    said = []
    if state.bisecting is not None:
        b = state.bisecting
        said.append(f"bisect {b.good[:12]}..{b.bad[:12]} at {b.level} (session {b.session})")
    elif state.queue:
        said.append(f"test {state.queue[-1][:12]} at {', '.join(config.levels)} ({len(state.queue)} queued)")
    if state.streak.count:
        pause = wait_s(
            state.streak, poll_s=config.poll_s, escalate_after=config.escalate_after, backoff_max_s=config.backoff_max_s
        )
        said.append(f"infra failing {state.streak.count} cycle(s) in a row ({state.streak.kind}): waits {pause:.0f} s")
    said.append(f"poll upstream {_at(state.last_poll, config.poll_s, now)}")
    if production and config.revalidate_s:
        said.append(f"re-validate production {_at(state.last_revalidate, config.revalidate_s, now)}")
    if config.retention_s:
        said.append(f"retention {_at(state.last_retention, config.retention_s, now)}")
    return tuple(said)


def _at(last: str, every_s: float, now: datetime.datetime) -> str:
    if not last:
        return "now"
    when = datetime.datetime.fromisoformat(last) + datetime.timedelta(seconds=every_s)
    return "now" if when <= now else f"at {when.isoformat(timespec='seconds')}"

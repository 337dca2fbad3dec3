"""What `watch` tells people: events, their JSON payload and the one line chat receivers show.

An event has a key: the store keeps one event per key, so a watch restarted after a kill
that re-decides a step it had finished does not announce it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

EventKind = Literal[
    "pass",  # a new upstream commit passed every watched level; last-good moved
    "fail",  # a new upstream commit failed a level
    "culprit",  # the bisect after a fail named the first bad commit (with the impact report)
    "promoted",  # auto promotion moved production (and redeployed when configured)
    "rolled_back",  # the redeploy of an auto promotion did not turn healthy: production rolled back
    "production_failing",  # production's baseline no longer passes on this host (never upstream's fault)
    "escalation",  # the same infra failure several cycles in a row (one event, then backing off)
    "recovered",  # the infra failure of an escalation is over
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: EventKind
    key: str  # one event per key, ever (e.g. "fail:<sha>:smoke")
    created: str  # ISO 8601, UTC
    commit: str = ""
    level: str = ""
    verdict: str = ""
    culprit: str = ""
    summary: str = ""
    run_id: str = ""
    report: str = ""  # a file or folder with more (the impact report of a culprit)


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event in the store's outbox: which receivers have it, how often delivery was tried."""

    seq: int
    event: Event
    sent_to: tuple[str, ...]  # receiver names (Webhook.name, "command") that acknowledged it
    attempts: int
    last_error: str


def text(event: Event) -> str:
    """The line Slack/Discord-style receivers show (their `text` field)."""
    sha = event.commit[:12]
    match event.kind:
        case "pass":
            return f"harness: upstream {sha} passes ({event.level}); last-good moved"
        case "fail":
            return f"harness: upstream {sha} FAILS at {event.level}: {event.summary}"
        case "culprit":
            return f"harness: first bad upstream commit {event.culprit[:12]} ({event.summary})"
        case "promoted":
            return f"harness: production is now {sha} ({event.summary})"
        case "rolled_back":
            return f"harness: production rolled back: {event.summary}"
        case "production_failing":
            return f"harness: production {sha} no longer passes on this host: {event.summary}"
        case "escalation":
            return f"harness: infra keeps failing: {event.summary}"
        case "recovered":
            return f"harness: infra recovered: {event.summary}"


def payload(event: Event, *, state: str) -> dict[str, object]:
    """The JSON body of a webhook (and the command's stdin)."""
    return {
        "event": event.kind,
        "key": event.key,
        "created": event.created,
        "state": state,
        "commit": event.commit,
        "level": event.level,
        "verdict": event.verdict,
        "culprit": event.culprit,
        "summary": event.summary,
        "run_id": event.run_id,
        "report": event.report,
        "text": text(event),
    }

"""Deliver watch's pending events to every receiver: retried with backoff, recorded in the
outbox, dropped after too many deliveries. A failing receiver never stops the loop.

The outbox (the store) is the truth: an event leaves it only once every receiver has it or
it is given up, so a watch killed mid-delivery resends at most what was not yet acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.errors import NotifyError
from harness.events import StoredEvent, payload
from harness.ports import Notifier, Outbox


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    sent: tuple[tuple[int, str], ...]  # (event seq, receiver) acknowledged in this delivery
    delivered: tuple[int, ...]  # seqs every receiver now has: they left the outbox
    failed: tuple[tuple[str, str], ...]  # (receiver, error): each receiver that failed, once
    given_up: tuple[int, ...]  # seqs of the events dropped in this delivery


def deliver(
    outbox: Outbox,
    notifiers: Sequence[Notifier],
    *,
    state: str,
    sleep: Callable[[float], None],
    retries: int,
    backoff_s: float,
    give_up_after: int,
) -> DeliveryReport:
    """Send each pending event to each receiver that does not have it yet.

    A receiver gets `1 + retries` tries per event, `backoff_s` apart (doubling). One that still
    fails is not tried again in this delivery (its later events are counted as failed with its
    error): a dead receiver delays the others by its own retries once, not once per event.
    An event every receiver has leaves the outbox (with no receiver configured, at once: a
    webhook added later is not flooded with the past). An event some receiver failed stays
    pending; its `give_up_after`-th failed delivery drops it.
    Only NotifyError is a receiver's failure: anything else is a bug and raises.
    """
    sent: list[tuple[int, str]] = []
    delivered: list[int] = []
    dead: dict[str, str] = {}  # receiver -> its error in this delivery
    given_up: list[int] = []
    for stored in outbox.pending_events():
        body = payload(stored.event, state=state)
        errors: list[str] = []
        for notifier in notifiers:
            name = notifier.name
            if name in stored.sent_to:
                continue
            error = dead[name] if name in dead else _send(notifier, body, sleep, retries=retries, backoff_s=backoff_s)
            if error is None:
                outbox.mark_sent(stored.seq, name)
                sent.append((stored.seq, name))
            else:
                dead[name] = error
                errors.append(error)
        if not errors:
            outbox.mark_delivered(stored.seq)
            delivered.append(stored.seq)
        elif _failed(outbox, stored, "; ".join(errors), give_up_after):
            given_up.append(stored.seq)
    return DeliveryReport(
        sent=tuple(sent), delivered=tuple(delivered), failed=tuple(dead.items()), given_up=tuple(given_up)
    )


def _send(
    notifier: Notifier, body: Mapping[str, object], sleep: Callable[[float], None], *, retries: int, backoff_s: float
) -> str | None:
    """None once the receiver took the body, else its last error (it names the receiver)."""
    error = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        try:
            notifier.send(body)
        except NotifyError as exc:
            error = str(exc) or f"{notifier.name}: failed ({type(exc).__name__})"
        else:
            return None
    return error


def _failed(outbox: Outbox, stored: StoredEvent, error: str, give_up_after: int) -> bool:
    """Record a failed delivery of the event; True when that was its last allowed one."""
    outbox.mark_attempt(stored.seq, error)
    if stored.attempts + 1 < give_up_after:
        return False
    outbox.give_up(stored.seq, f"given up after {stored.attempts + 1} deliveries: {error}")
    return True

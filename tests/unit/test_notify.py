"""Delivery of watch's events (ops/notify.py) over a fake outbox and fake receivers, and what
the receivers' adapter decides before any network (adapters/notify.py)."""

from __future__ import annotations

import pytest

from harness.adapters.notify import CommandNotifier, WebhookNotifier, notifiers_for
from harness.errors import NotifyError
from harness.events import text
from harness.ops.notify import DeliveryReport, deliver
from harness.ports import Notifier
from harness.watchconfig import NotifyConfig, Webhook
from tests.unit.fakes import FakeNotifier, FakeOutbox, stored_event

SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3t-path"
TOKEN = "tok-very-secret-123"


def run(
    outbox: FakeOutbox,
    notifiers: list[Notifier],
    sleeps: list[float],
    *,
    retries: int = 2,
    give_up_after: int = 5,
) -> DeliveryReport:
    return deliver(
        outbox, notifiers, state="st1", sleep=sleeps.append, retries=retries, backoff_s=1.0, give_up_after=give_up_after
    )


def test_every_receiver_gets_every_pending_event_in_order() -> None:
    outbox = FakeOutbox([stored_event(2, "fail"), stored_event(1)])
    a, b = FakeNotifier("webhook $A"), FakeNotifier("command")
    sleeps: list[float] = []
    report = run(outbox, [a, b], sleeps)
    assert report == DeliveryReport(
        sent=((1, "webhook $A"), (1, "command"), (2, "webhook $A"), (2, "command")),
        delivered=(1, 2),
        failed=(),
        given_up=(),
    )
    assert [body["key"] for body in a.received] == ["pass:1", "fail:2"]
    assert a.received[1]["state"] == "st1"
    assert a.received[1]["text"] == text(stored_event(2, "fail").event)
    assert b.received == a.received
    assert sleeps == []
    assert [c[:2] for c in outbox.calls] == [
        ("sent", 1),
        ("sent", 1),
        ("delivered", 1),
        ("sent", 2),
        ("sent", 2),
        ("delivered", 2),
    ]
    assert outbox.pending_events() == []


def test_a_receiver_that_has_the_event_is_not_sent_it_again() -> None:
    outbox = FakeOutbox([stored_event(1, sent_to=("webhook $A",))])
    a, b = FakeNotifier("webhook $A"), FakeNotifier("command")
    report = run(outbox, [a, b], [])
    assert a.received == []
    assert report.sent == ((1, "command"),)


def test_an_event_every_receiver_has_leaves_the_outbox_without_a_send() -> None:
    """A watch killed between the last mark_sent and mark_delivered."""
    outbox = FakeOutbox([stored_event(1, sent_to=("webhook $A",))], expect=("pending_events", "mark_delivered"))
    a = FakeNotifier("webhook $A")
    assert run(outbox, [a], []) == DeliveryReport(sent=(), delivered=(1,), failed=(), given_up=())
    assert a.log == []


def test_retries_back_off_doubling_until_the_receiver_takes_it() -> None:
    outbox = FakeOutbox([stored_event(1)])
    flaky = FakeNotifier("webhook $A", fail_first=2)
    sleeps: list[float] = []
    report = run(outbox, [flaky], sleeps, retries=2)
    assert sleeps == [1.0, 2.0]
    assert report.sent == ((1, "webhook $A"),)
    assert outbox.calls == [("sent", 1, "webhook $A"), ("delivered", 1, "")]


def test_a_receiver_failing_every_retry_leaves_the_event_pending_with_its_error() -> None:
    outbox = FakeOutbox([stored_event(1)])
    down, up = FakeNotifier("webhook $A", down=True), FakeNotifier("command")
    sleeps: list[float] = []
    report = run(outbox, [down, up], sleeps, retries=2)
    assert len(down.log) == 3
    assert report.failed == (("webhook $A", "webhook $A: HTTP 503 Service Unavailable"),)
    assert report.sent == ((1, "command"),)
    assert (report.delivered, report.given_up) == ((), ())
    assert outbox.calls[-1] == ("attempt", 1, "webhook $A: HTTP 503 Service Unavailable")
    [pending] = outbox.pending_events()
    assert (pending.sent_to, pending.attempts) == (("command",), 1)


def test_the_next_delivery_sends_only_to_the_receiver_that_missed_it() -> None:
    outbox = FakeOutbox([stored_event(1)])
    flaky, up = FakeNotifier("webhook $A", fail_first=3), FakeNotifier("command")
    run(outbox, [flaky, up], [], retries=2)
    assert outbox.delivered == []
    report = run(outbox, [flaky, up], [], retries=2)
    assert report.sent == ((1, "webhook $A"),)
    assert report.delivered == (1,)
    assert len(up.received) == 1
    assert len(flaky.received) == 1


def test_a_dead_receiver_delays_the_others_by_its_own_retries_once() -> None:
    log: list[str] = []
    outbox = FakeOutbox([stored_event(1), stored_event(2), stored_event(3)])
    dead, live = FakeNotifier("webhook $A", down=True, log=log), FakeNotifier("command", log=log)
    sleeps: list[float] = []
    report = run(outbox, [dead, live], sleeps, retries=2)
    assert log == ["webhook $A pass:1"] * 3 + ["command pass:1", "command pass:2", "command pass:3"]
    assert sleeps == [1.0, 2.0]
    assert report.failed == (("webhook $A", "webhook $A: HTTP 503 Service Unavailable"),)
    assert [c[:2] for c in outbox.calls if c[0] == "attempt"] == [("attempt", 1), ("attempt", 2), ("attempt", 3)]
    assert len(outbox.pending_events()) == 3
    assert report.delivered == ()


def test_an_event_is_given_up_on_its_last_allowed_delivery() -> None:
    outbox = FakeOutbox([stored_event(1, attempts=3), stored_event(2, attempts=4)])
    report = run(outbox, [FakeNotifier("webhook $A", down=True)], [], retries=0, give_up_after=5)
    assert report.given_up == (2,)
    assert [s.seq for s in outbox.pending_events()] == [1]
    assert outbox.dropped[2] == "given up after 5 deliveries: webhook $A: HTTP 503 Service Unavailable"


def test_a_bug_in_a_receiver_is_not_swallowed() -> None:
    class Broken(FakeNotifier):
        def send(self, body: object) -> None:
            raise KeyError("text")

    with pytest.raises(KeyError):
        run(FakeOutbox([stored_event(1)]), [Broken("webhook $A")], [])


def test_without_receivers_an_event_leaves_the_outbox_at_once() -> None:
    """A webhook configured later is not flooded with every event of the past."""
    outbox = FakeOutbox([stored_event(1)], expect=("pending_events", "mark_delivered"))
    assert run(outbox, [], []) == DeliveryReport(sent=(), delivered=(1,), failed=(), given_up=())


def test_notifiers_for_makes_each_webhook_then_the_command() -> None:
    cfg = NotifyConfig(
        webhooks=(Webhook(url=None, url_env="HOOK"), Webhook(url="http://127.0.0.1:9/x", url_env=None)),
        command=("/bin/notify", "--quiet"),
    )
    found = notifiers_for(cfg, {})
    assert [n.name for n in found] == ["webhook $HOOK", "webhook http://127.0.0.1:9/x", "command"]
    assert [type(n) for n in found] == [WebhookNotifier, WebhookNotifier, CommandNotifier]
    assert notifiers_for(NotifyConfig(), {}) == ()


@pytest.mark.parametrize(
    ("hook", "env", "says"),
    [
        (Webhook(url=None, url_env="HOOK"), {}, "environment variable HOOK (its URL) is not set"),
        (Webhook(url=None, url_env="HOOK"), {"HOOK": ""}, "environment variable HOOK (its URL) is not set"),
        (
            Webhook(url=None, url_env="HOOK", headers_env=(("Authorization", "TOKEN"),)),
            {"HOOK": SECRET_URL},
            "environment variable TOKEN (header Authorization) is not set",
        ),
        (
            Webhook(url=None, url_env="HOOK", headers_env=(("Authorization", "TOKEN"),)),
            {"HOOK": SECRET_URL, "TOKEN": f"Bearer {TOKEN}\r\nX-Evil: 1"},
            "environment variable TOKEN (header Authorization) holds a control character",
        ),
        (Webhook(url=None, url_env="HOOK"), {"HOOK": "ftp:" + TOKEN}, "not a valid http:// or https:// URL"),
        (Webhook(url=None, url_env="HOOK"), {"HOOK": f"http://[{TOKEN}/x"}, "not a valid http:// or https:// URL"),
        (Webhook(url=None, url_env="HOOK"), {"HOOK": f"http://h:{TOKEN}/x"}, "not a valid http:// or https:// URL"),
    ],
)
def test_a_webhook_that_cannot_be_sent_says_why_without_a_secret(hook: Webhook, env: dict[str, str], says: str) -> None:
    with pytest.raises(NotifyError) as caught:
        WebhookNotifier(hook, env, timeout_s=1.0).send({"text": "x"})
    message = str(caught.value)
    assert message.startswith("webhook $HOOK: ")
    assert says in message
    assert TOKEN not in message
    assert "s3cr3t" not in message

"""Watch's receivers for real: webhooks POSTed to a local HTTP receiver on 127.0.0.1 (up,
failing, slow, down) and a command run as a child process; no secret in any error."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness.adapters.notify import CommandNotifier, WebhookNotifier, notifiers_for
from harness.errors import NotifyError
from harness.events import Event, payload
from harness.ops.notify import deliver
from harness.store import Store
from harness.watchconfig import NotifyConfig, Webhook
from tests.receiver import Receiver

pytestmark = pytest.mark.integration  # real sockets and child processes (no engine needed)

TOKEN = "tok-very-secret-123"
SECRET_PATH = "/services/T000/B000/s3cr3t"
BODY = payload(Event(kind="fail", key="fail:1", created="2024-01-02T00:00:00+00:00", commit="a" * 40), state="st")


def secret_hook(receiver: Receiver) -> tuple[Webhook, dict[str, str]]:
    """A webhook whose URL and Authorization value are secrets in the environment."""
    hook = Webhook(url=None, url_env="HOOK_URL", headers_env=(("Authorization", "HOOK_TOKEN"),))
    return hook, {"HOOK_URL": receiver.url + SECRET_PATH, "HOOK_TOKEN": f"Bearer {TOKEN}"}


def send_error(notifier: WebhookNotifier | CommandNotifier) -> str:
    with pytest.raises(NotifyError) as caught:
        notifier.send(BODY)
    return str(caught.value)


def assert_no_secret(message: str, env: dict[str, str]) -> None:
    for value in env.values():
        assert value not in message
    assert TOKEN not in message
    assert "s3cr3t" not in message


def test_a_webhook_posts_the_json_with_its_headers_from_the_environment() -> None:
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        WebhookNotifier(hook, env, timeout_s=5).send(BODY)
        assert receiver.bodies == [BODY]
        [headers] = receiver.headers
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "harness"
        assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_error_answer_is_quoted_with_every_secret_scrubbed() -> None:
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        receiver.fail_next(1, 500, answer=f"invalid_token: {SECRET_PATH[10:]} (was given {TOKEN})")
        message = send_error(WebhookNotifier(hook, env, timeout_s=5))
        said = "invalid_token: ***/***/*** (was given ***)"
        assert message == f"webhook $HOOK_URL: HTTP 500 Internal Server Error: {said}"
        assert_no_secret(message, env)
        assert receiver.bodies == []


def test_a_redirect_is_an_error_not_a_lost_event() -> None:
    """urllib would follow it as a GET without the body, and report success."""
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        receiver.fail_next(1, 302)
        message = send_error(WebhookNotifier(hook, env, timeout_s=5))
        assert "HTTP 302 Found (redirects are not followed" in message
        assert_no_secret(message, env)
        assert receiver.refused == 1


def test_a_receiver_that_is_down_is_a_refused_connection() -> None:
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        receiver.stop()
        message = send_error(WebhookNotifier(hook, env, timeout_s=5))
        assert message == "webhook $HOOK_URL: connection refused"
        receiver.start()
        WebhookNotifier(hook, env, timeout_s=5).send(BODY)
        assert receiver.bodies == [BODY]


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout() -> None:
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        receiver.delay_next(1, 5.0)
        start = time.monotonic()
        message = send_error(WebhookNotifier(hook, env, timeout_s=0.5))
        assert time.monotonic() - start < 3
        assert message == "webhook $HOOK_URL: no answer within 0.5s (notify.timeout_s)"


def test_a_written_url_is_named_and_reached_without_a_proxy_for_loopback() -> None:
    with Receiver() as receiver:
        hook = Webhook(url=receiver.url, url_env=None)
        env = {"http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}  # nothing listens on 9
        WebhookNotifier(hook, env, timeout_s=5).send(BODY)
        assert receiver.bodies == [BODY]
        receiver.fail_next(1, 503)
        assert send_error(WebhookNotifier(hook, env, timeout_s=5)) == (
            f"webhook {receiver.url}: HTTP 503 Service Unavailable"
        )


def write_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_the_command_gets_the_json_on_its_stdin(tmp_path: Path) -> None:
    got = tmp_path / "got.json"
    script = write_script(tmp_path, f'cat > "{got}"')
    CommandNotifier([str(script)], timeout_s=10).send(BODY)
    assert json.loads(got.read_text()) == BODY


def test_a_failing_command_says_its_exit_and_last_stderr_line(tmp_path: Path) -> None:
    script = write_script(tmp_path, "cat >/dev/null\necho first >&2\necho 'mail: relay refused' >&2\nexit 3")
    message = send_error(CommandNotifier([str(script)], timeout_s=10))
    assert message == f"command {script}: exit 3: mail: relay refused"


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = write_script(tmp_path, f'sleep 60 &\necho $! > "{pid_file}"\nwait')
    start = time.monotonic()
    message = send_error(CommandNotifier([str(script)], timeout_s=0.5))
    assert time.monotonic() - start < 10
    assert message == f"command {script}: killed after 0.5s (notify.timeout_s)"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, reaped by init soon, counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_command_that_cannot_start_says_so(tmp_path: Path) -> None:
    message = send_error(CommandNotifier([str(tmp_path / "missing")], timeout_s=5))
    assert message == f"command {tmp_path / 'missing'}: cannot start it: no such file or directory"


def test_delivery_from_the_store_survives_a_dead_webhook_and_catches_up_when_it_is_back(tmp_path: Path) -> None:
    got = tmp_path / "got.jsonl"
    script = write_script(tmp_path, f'cat >> "{got}"; echo >> "{got}"')
    store = Store(tmp_path / "state.db")
    store.add_event(Event(kind="pass", key="pass:1", created="2024-01-02T00:00:00+00:00", commit="1" * 40))
    store.add_event(Event(kind="fail", key="fail:2", created="2024-01-02T00:01:00+00:00", commit="2" * 40))
    with Receiver() as receiver:
        hook, env = secret_hook(receiver)
        notifiers = notifiers_for(NotifyConfig(webhooks=(hook,), command=(str(script),), timeout_s=5), env)
        receiver.stop()
        sleeps: list[float] = []
        first = deliver(store, notifiers, state="st", sleep=sleeps.append, retries=1, backoff_s=0.5, give_up_after=9)
        assert first.failed == (("webhook $HOOK_URL", "webhook $HOOK_URL: connection refused"),)
        assert sleeps == [0.5]
        assert [json.loads(line)["key"] for line in got.read_text().splitlines()] == ["pass:1", "fail:2"]
        pending = store.pending_events()
        assert [(e.sent_to, e.attempts, e.last_error) for e in pending] == [
            (("command",), 1, "webhook $HOOK_URL: connection refused")
        ] * 2

        receiver.start()
        receiver.fail_next(1)
        second = deliver(store, notifiers, state="st", sleep=sleeps.append, retries=1, backoff_s=0.5, give_up_after=9)
        assert second.sent == ((1, "webhook $HOOK_URL"), (2, "webhook $HOOK_URL"))
        assert second.delivered == (1, 2)
        assert [(body["key"], body["state"]) for body in receiver.bodies] == [("pass:1", "st"), ("fail:2", "st")]
        assert len(got.read_text().splitlines()) == 2  # the command was not sent them again
        assert store.pending_events() == []
        assert os.environ.get("HOOK_URL") is None  # the environment was injected, never exported

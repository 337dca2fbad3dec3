"""Watch's receivers: webhooks (a JSON POST) and a command (the JSON on its stdin). The only
module that sends notifications; standard library only (urllib, subprocess).

Every failure a receiver can have (unset variable, refused, unreachable, timed out, non-2xx,
exit != 0) is a `NotifyError` whose message is stored in the outbox and logged, so it never
holds a secret: a URL from `url_env` is named `webhook $VAR`, header values never appear, and
what a server or the network says back is scrubbed of every secret before it is quoted.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import SplitResult, urlsplit

from harness.errors import NotifyError
from harness.ports import Notifier
from harness.watchconfig import NotifyConfig, Webhook

USER_AGENT = "harness"
_QUOTED = 200  # characters of a server's answer or a command's stderr quoted in an error
_MIN_SECRET = 4  # shorter values would scrub ordinary text ("HTTP 401") without hiding anything
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_BAD_URL = "not a valid http:// or https:// URL; set it to the webhook's URL"  # never quoting it: it may be the secret


class WebhookNotifier:
    """POSTs the event's JSON to one webhook; its URL and header values are read from `env` at
    each send, so a variable set after start (or fixed) is picked up without a restart."""

    def __init__(self, hook: Webhook, env: Mapping[str, str], timeout_s: float) -> None:
        self._hook, self._env, self._timeout_s = hook, env, timeout_s

    @property
    def name(self) -> str:
        return self._hook.name

    def send(self, body: Mapping[str, object]) -> None:
        url, headers = self._target()
        secrets = _secrets([url if self._hook.url_env else "", *headers.values(), *self._proxies(url).values()])
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        try:
            with self._opener(url).open(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise NotifyError(f"{self.name}: {_http_error(exc, secrets)}") from None
        except urllib.error.URLError as exc:
            raise NotifyError(f"{self.name}: {_reason(exc.reason, self._timeout_s, secrets)}") from None
        except ValueError:  # http.client.InvalidURL (a bad port, control characters): it quotes the URL
            raise NotifyError(f"{self.name}: {_BAD_URL}") from None
        except (OSError, http.client.HTTPException) as exc:  # a reset or timeout while reading the answer
            raise NotifyError(f"{self.name}: {_reason(exc, self._timeout_s, secrets)}") from None

    def _target(self) -> tuple[str, dict[str, str]]:
        """The URL and the headers, from the environment where the config names variables."""
        url = self._hook.url or self._variable(self._hook.url_env or "", "its URL")
        parts = _split(url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotifyError(f"{self.name}: {_BAD_URL}")
        headers = {header: self._variable(var, f"header {header}") for header, var in self._hook.headers_env}
        for (header, var), value in zip(self._hook.headers_env, headers.values(), strict=True):
            if not value.isprintable():  # http.client's ValueError would quote the value
                raise NotifyError(
                    f"{self.name}: environment variable {var} (header {header}) holds a control character"
                )
        return url, headers

    def _variable(self, var: str, what: str) -> str:
        value = self._env.get(var, "")
        if not value:
            raise NotifyError(f"{self.name}: environment variable {var} ({what}) is not set; export it for watch")
        return value

    def _proxies(self, url: str) -> dict[str, str]:
        """http(s)_proxy from the injected environment (urllib's default reads os.environ);
        none for loopback receivers and hosts no_proxy names."""
        host = (parts.hostname if (parts := _split(url)) else None) or ""
        no_proxy = self._env.get("no_proxy") or self._env.get("NO_PROXY") or ""
        entries = [e.strip().lstrip(".") for e in no_proxy.split(",") if e.strip()]
        if host in _LOOPBACK or any(e == "*" or host == e or host.endswith(f".{e}") for e in entries):
            return {}
        found = {}
        for scheme in ("http", "https"):
            if proxy := self._env.get(f"{scheme}_proxy") or self._env.get(f"{scheme.upper()}_PROXY"):
                found[scheme] = proxy
        return found

    def _opener(self, url: str) -> urllib.request.OpenerDirector:
        return urllib.request.build_opener(urllib.request.ProxyHandler(self._proxies(url)), _NoRedirect())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without the body: the event would be lost while
    the receiver answered 200. A redirect is an error instead (HTTP 3xx)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _http_error(exc: urllib.error.HTTPError, secrets: Sequence[str]) -> str:
    """The status and the start of the server's answer (Slack says e.g. `invalid_token`), scrubbed."""
    try:
        answer = exc.read(_QUOTED * 4).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        answer = ""
    finally:
        exc.close()
    said = _scrub(" ".join(answer.split()), secrets)[:_QUOTED]
    hint = " (redirects are not followed: configure the final URL)" if 300 <= exc.code < 400 else ""
    return f"HTTP {exc.code} {_scrub(str(exc.reason), secrets)}{hint}" + (f": {said}" if said else "")


def _reason(reason: object, timeout_s: float, secrets: Sequence[str]) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_s:g}s (notify.timeout_s)"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    if isinstance(reason, ValueError):  # http.client.InvalidURL quotes the URL, the secret
        return _BAD_URL
    said = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
    return _scrub(said, secrets)


def _secrets(values: Iterable[str]) -> tuple[str, ...]:
    """Every string a server's answer must not be quoted with: a URL from the environment and
    each piece of its path and query (a server may echo any of them; the secret of a Slack
    webhook is its path), header values and their words (`Bearer <token>`), proxy logins."""
    found: set[str] = set()
    for value in values:
        found |= {value, *value.split()}
        if (parts := _split(value)) is not None:
            found |= {parts.path, parts.query, *parts.path.split("/"), *re.split("[&=]", parts.query)}
            found |= {parts.username or "", parts.password or ""}
    return tuple(sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True))


def _split(value: str) -> SplitResult | None:
    """The parts of a URL; None where http.client would refuse it with a message quoting it."""
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is no number
    except ValueError:  # that, or an unbalanced [ of an IPv6 host
        return None
    return parts


def _scrub(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


class CommandNotifier:
    """Runs `argv` (no shell) with the event's JSON on its stdin; a child still running after
    `timeout_s` is killed with its whole process group (a shell script's children too)."""

    def __init__(self, argv: Sequence[str], timeout_s: float) -> None:
        self._argv, self._timeout_s = tuple(argv), timeout_s

    @property
    def name(self) -> str:
        return "command"

    def send(self, body: Mapping[str, object]) -> None:
        what = f"command {self._argv[0]}"
        try:
            child = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:  # not found, not executable
            raise NotifyError(f"{what}: cannot start it: {(exc.strerror or str(exc)).lower()}") from None
        with child:
            try:
                _, err = child.communicate(json.dumps(body).encode(), timeout=self._timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # the whole group ended meanwhile
                    os.killpg(child.pid, signal.SIGKILL)
                raise NotifyError(f"{what}: killed after {self._timeout_s:g}s (notify.timeout_s)") from None
        if child.returncode == 0:
            return
        lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        last = f": {lines[-1][:_QUOTED]}" if lines else " (nothing on stderr)"
        status = f"exit {child.returncode}" if child.returncode > 0 else f"killed by signal {-child.returncode}"
        raise NotifyError(f"{what}: {status}{last}")


def notifiers_for(cfg: NotifyConfig, env: Mapping[str, str]) -> tuple[Notifier, ...]:
    """The receivers `notify:` configures: each webhook, then the command (if any)."""
    found: list[Notifier] = [WebhookNotifier(hook, env, cfg.timeout_s) for hook in cfg.webhooks]
    if cfg.command:
        found.append(CommandNotifier(cfg.command, cfg.timeout_s))
    return tuple(found)

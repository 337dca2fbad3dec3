"""`watch:` and `notify:` of harness.yaml: how the unattended loop runs and whom it tells.

Secrets never sit in harness.yaml: a webhook's URL may be written (a local receiver) or named
by an environment variable (`url_env`, e.g. a Slack incoming-webhook URL, which is a secret),
and header values are always environment variable names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from harness.errors import ConfigError
from harness.model import LEVELS, Level
from harness.yamlio import Section

PromotePolicy = Literal["manual", "auto"]
PROMOTE_POLICIES: tuple[PromotePolicy, ...] = ("manual", "auto")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEADER = re.compile(r"[A-Za-z0-9-]+\Z")


@dataclass(frozen=True, kw_only=True)
class Soak:
    """What auto promotion waits for after an image's first baseline PASS: this many passing
    baselines of the same image in all, and at least this age of the first one."""

    runs: int = 2
    age_s: int = 0


@dataclass(frozen=True, kw_only=True)
class WatchConfig:
    ref: str = "HEAD"  # the upstream ref followed (a branch; HEAD: the remote's default)
    poll_s: float = 600.0
    levels: tuple[Level, ...] = LEVELS  # cheapest first; the first failure stops a commit
    bisect: bool = True  # on FAIL: bisect last-good..the failing commit, then the impact report
    promote: PromotePolicy = "manual"
    soak: Soak = field(default_factory=Soak)
    deploy: bool = False  # auto promotion also redeploys (with its automatic rollback)
    revalidate_s: int = 3600  # production's baseline re-run every this often (0: never)
    retention_s: int = 86400  # gc and video pruning every this often (0: never)
    keep_days: int = 14  # run folders older than this lose their videos (not their records)
    gc_keep: int = 5  # retention's gc: the newest commit images and releases kept (`gc --keep`)
    escalate_after: int = 3  # the same infra failure this many times in a row: one escalation
    backoff_max_s: float = 3600.0  # the longest wait between cycles while infra keeps failing


@dataclass(frozen=True, kw_only=True)
class Webhook:
    url: str | None  # written in harness.yaml (not a secret), or
    url_env: str | None  # the environment variable holding it
    headers_env: tuple[tuple[str, str], ...] = ()  # (header, environment variable holding its value)

    @property
    def name(self) -> str:
        """How logs and the store name this receiver: never the URL itself (it may be a secret)."""
        return f"webhook ${self.url_env}" if self.url_env else f"webhook {self.url}"


@dataclass(frozen=True, kw_only=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...] = ()
    command: tuple[str, ...] = ()  # argv; the event's JSON on its stdin
    retries: int = 2  # further attempts within one delivery, `backoff_s` apart (doubling)
    backoff_s: float = 2.0
    timeout_s: float = 10.0
    give_up_after: int = 20  # deliveries of one event before it is dropped (counted per event)


def watch_from(top: Section) -> WatchConfig | None:
    """The `watch:` section (None when absent: `harness watch` runs on the defaults)."""
    if top.data.get("watch") is None:
        return None
    sec = top.section("watch")
    sec.check_keys(
        {
            "ref",
            "poll_s",
            "levels",
            "bisect",
            "promote",
            "soak",
            "deploy",
            "revalidate_s",
            "retention_s",
            "keep_days",
            "gc_keep",
            "escalate_after",
            "backoff_max_s",
        }
    )
    return WatchConfig(
        ref=sec.string("ref", "HEAD"),
        poll_s=sec.number("poll_s", 600.0, low=0.1, high=86400.0),
        levels=_levels(sec),
        bisect=sec.boolean("bisect", True),
        promote=sec.choice("promote", "manual", PROMOTE_POLICIES),
        soak=_soak(sec.section("soak")),
        deploy=sec.boolean("deploy", False),
        revalidate_s=sec.integer("revalidate_s", 3600, low=0, high=30 * 86400),
        retention_s=sec.integer("retention_s", 86400, low=0, high=30 * 86400),
        keep_days=sec.integer("keep_days", 14, low=0, high=3650),
        gc_keep=sec.integer("gc_keep", 5, low=1, high=10000),
        escalate_after=sec.integer("escalate_after", 3, low=1, high=1000),
        backoff_max_s=sec.number("backoff_max_s", 3600.0, low=0.1, high=86400.0),
    )


def _levels(sec: Section) -> tuple[Level, ...]:
    raw = sec.strings("levels") if "levels" in sec.data else LEVELS
    allowed = ", ".join(LEVELS)
    if not raw:
        raise ConfigError(sec.source, sec.key("levels"), f"empty; list one or more of {allowed}, cheapest first")
    levels: list[Level] = []
    for name in raw:
        level = next((lv for lv in LEVELS if lv == name), None)
        if level is None:
            raise ConfigError(sec.source, sec.key("levels"), f"{name!r}; allowed: {allowed}")
        levels.append(level)
    if [LEVELS.index(lv) for lv in levels] != sorted({LEVELS.index(lv) for lv in levels}):
        raise ConfigError(
            sec.source, sec.key("levels"), f"{list(raw)!r}: each once, cheapest first (in the order {allowed})"
        )
    return tuple(levels)


def _soak(sec: Section) -> Soak:
    sec.check_keys({"runs", "age_s"})
    return Soak(runs=sec.integer("runs", 2, low=1, high=100), age_s=sec.integer("age_s", 0, low=0, high=30 * 86400))


def notify_from(top: Section) -> NotifyConfig:
    sec = top.section("notify")
    sec.check_keys({"webhooks", "command", "retries", "backoff_s", "timeout_s", "give_up_after"})
    hooks = sec.data.get("webhooks") or []
    if not isinstance(hooks, list):
        raise ConfigError(sec.source, sec.key("webhooks"), f"{hooks!r} is not a list of webhooks (url or url_env)")
    return NotifyConfig(
        webhooks=tuple(_webhook(Section(sec.source, f"{sec.key('webhooks')}[{i}]", h)) for i, h in enumerate(hooks)),
        command=sec.strings("command"),
        retries=sec.integer("retries", 2, low=0, high=10),
        backoff_s=sec.number("backoff_s", 2.0, low=0.0, high=600.0),
        timeout_s=sec.number("timeout_s", 10.0, low=0.1, high=600.0),
        give_up_after=sec.integer("give_up_after", 20, low=1, high=10000),
    )


def _webhook(sec: Section) -> Webhook:
    sec.check_keys({"url", "url_env", "headers"})
    url, url_env = sec.string("url"), sec.string("url_env")
    if (url is None) == (url_env is None):
        raise ConfigError(sec.source, sec.prefix, "give exactly one of url (not a secret) or url_env (a variable name)")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(sec.source, sec.key("url"), f"{url!r}: an http:// or https:// URL")
    if url_env is not None and not _ENV_NAME.match(url_env):
        raise ConfigError(sec.source, sec.key("url_env"), f"{url_env!r}: the name of an environment variable")
    headers = sec.section("headers")
    pairs = []
    for header, env in headers.data.items():
        if not isinstance(header, str) or not _HEADER.match(header):
            raise ConfigError(sec.source, headers.key(str(header)), "a header name (letters, digits, -)")
        if not isinstance(env, str) or not _ENV_NAME.match(env):
            raise ConfigError(
                sec.source, headers.key(header), f"{env!r}: the variable holding the value (never the value)"
            )
        pairs.append((header, env))
    return Webhook(url=url, url_env=url_env, headers_env=tuple(pairs))

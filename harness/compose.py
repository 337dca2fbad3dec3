"""Read one service of compose.yaml into a plan the engine adapter can execute (pure).

The subset harness deploys itself: image, command, environment, volumes, health check,
restart policy, labels, and the GPU reservation in `deploy.resources.reservations.devices`.
`${VAR}` and `${VAR:-default}` are substituted from the given environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.runplan import Mount
from harness.yamlio import Section, load_yaml_mapping

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_DURATION = re.compile(r"(?:([0-9.]+)h)?(?:([0-9.]+)m(?!s))?(?:([0-9.]+)s)?(?:([0-9.]+)ms)?\Z")


@dataclass(frozen=True, kw_only=True)
class Health:
    test: tuple[str, ...]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    name: str
    image: str
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    health: Health | None
    restart: str
    labels: tuple[tuple[str, str], ...]
    gpu: bool


def _subst(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)
    if isinstance(value, list):
        return [_subst(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, env) for k, v in value.items()}
    return value


def _seconds(sec: Section, name: str, default: float) -> float:
    raw = sec.data.get(name, default)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    match = _DURATION.match(str(raw))
    if not match or not any(match.groups()):
        raise ConfigError(sec.source, sec.key(name), f"{raw!r} is not a duration like 5s, 1m30s")
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def load_service(path: Path, service: str, env: Mapping[str, str]) -> ServiceSpec:
    top = load_yaml_mapping(path)
    services = top.get("services")
    if not isinstance(services, dict) or service not in services:
        names = ", ".join(services) if isinstance(services, dict) else "none"
        raise ConfigError(str(path), f"services.{service}", f"no such service; defined: {names}")
    sec = Section(str(path), f"services.{service}", _subst(services[service], env))
    mounts = _mounts(sec, path.parent)
    health = _health(sec.section("healthcheck")) if isinstance(sec.data.get("healthcheck"), dict) else None
    gpu = _reserves_gpu(sec)
    environment = _environment(sec)
    command = sec.data.get("command") or []
    return ServiceSpec(
        name=service,
        image=sec.string("image", required=True),
        command=tuple(str(c) for c in (command.split() if isinstance(command, str) else command)),
        environment=environment,
        mounts=mounts,
        health=health,
        restart=str(sec.data.get("restart", "no")),
        labels=tuple((str(k), str(v)) for k, v in (sec.data.get("labels") or {}).items()),
        gpu=gpu,
    )


def _environment(sec: Section) -> tuple[tuple[str, str], ...]:
    """`environment:` as a mapping or a list of NAME=value."""
    raw = sec.data.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(str(e).split("=", 1) for e in raw)
    return tuple((str(k), str(v)) for k, v in raw.items())


def _mounts(sec: Section, base: Path) -> tuple[Mount, ...]:
    """`volumes:` as bind mounts; a relative source is relative to compose.yaml's folder."""
    mounts = []
    for i, raw in enumerate(sec.data.get("volumes") or []):
        parts = str(raw).split(":")
        if len(parts) not in (2, 3):
            raise ConfigError(sec.source, f"{sec.key('volumes')}[{i}]", f"{raw!r}: write SOURCE:TARGET[:ro]")
        source = (base / parts[0]).resolve() if parts[0].startswith(".") else Path(parts[0])
        mounts.append(Mount(source=str(source), target=parts[1], read_only=len(parts) == 3 and parts[2] == "ro"))
    return tuple(mounts)


def _health(hc: Section) -> Health:
    test = hc.data.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
        raise ConfigError(hc.source, hc.key("test"), f"{test!r}: a command string or a list like [CMD, ...]")
    return Health(
        test=tuple(str(t) for t in test or ()),
        interval_s=_seconds(hc, "interval", 30),
        timeout_s=_seconds(hc, "timeout", 30),
        retries=int(hc.data.get("retries", 3)),
        start_period_s=_seconds(hc, "start_period", 0),
    )


def _reserves_gpu(sec: Section) -> bool:
    """A `deploy.resources.reservations.devices` entry with the gpu capability."""
    devices = (((sec.data.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")
    return any("gpu" in str(d.get("capabilities")) for d in devices or [] if isinstance(d, dict))

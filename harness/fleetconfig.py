"""`fleet:` of harness.yaml: a Docker Swarm of GPU hosts and the registry that carries images to it.

Without the section everything stays on the local engine. With it, images are still built on
this host, then pushed to `registry` and referenced everywhere by digest; probes and baselines
run as Swarm jobs placed by the manager at `manager` (one GPU each, reserved as the generic
resource `gpu_resource`), writing their outputs under `results`, a path that is the same on
every node (NFS in production); production is the Swarm service `service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError
from harness.yamlio import Section

UpdateOrder = Literal["start-first", "stop-first"]
UPDATE_ORDERS: tuple[UpdateOrder, ...] = ("start-first", "stop-first")
FailureAction = Literal["rollback", "pause"]
FAILURE_ACTIONS: tuple[FailureAction, ...] = ("rollback", "pause")
FLEET_KEYS = frozenset(
    {"manager", "registry", "node_registry", "results", "gpu_resource", "service", "replicas", "update", "reschedule"}
)
UPDATE_KEYS = frozenset({"order", "parallelism", "monitor_s", "failure_action"})

_ADDRESS = re.compile(r"(unix|tcp|ssh)://\S+\Z")
# A registry as docker's reference grammar spells its domain: host names or an IPv4, a port maybe.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?\Z")
_RESOURCE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_SERVICE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}\Z")


@dataclass(frozen=True, kw_only=True)
class UpdatePolicy:
    """How Swarm rolls the production service to a new digest (its `update_config`)."""

    order: UpdateOrder = "start-first"  # a new task healthy before an old one stops
    parallelism: int = 1  # tasks updated at a time
    monitor_s: float = 30.0  # how long a new task must stay healthy to count
    failure_action: FailureAction = "rollback"  # Swarm's own rollback when the rollout fails


@dataclass(frozen=True, kw_only=True)
class FleetConfig:
    manager: str  # the Swarm manager's engine: unix:///path, tcp://host:port or ssh://user@host
    registry: str  # host[:port] this host pushes to
    node_registry: str  # the same registry as the nodes reach it (another address maybe)
    results: Path  # the shared results path: run folders live here, mounted at the same path on every node
    gpu_resource: str = "NVIDIA-GPU"  # the generic resource kind a node's GPUs are advertised as
    service: str = "harness-worker"  # production's Swarm service
    replicas: int = 1
    update: UpdatePolicy = UpdatePolicy()
    # Swarm never starts a job's task again when its node is lost: harness starts the run again
    # on another node this many times before the run is infra (125).
    reschedule: int = 1


def fleet_from(top: Section, base: Path) -> FleetConfig | None:
    """The `fleet:` section (None when absent: everything stays local)."""
    if top.data.get("fleet") is None:
        return None
    sec = top.section("fleet")
    sec.check_keys(FLEET_KEYS)
    registry = _matching(sec, "registry", _REGISTRY, "host[:port] (a registry, no scheme, no path)", required=True)
    return FleetConfig(
        manager=_matching(sec, "manager", _ADDRESS, "unix:///path, tcp://host:port or ssh://user@host", required=True),
        registry=registry,
        node_registry=_matching(sec, "node_registry", _REGISTRY, "host[:port]") or registry,
        results=_results(sec, base),
        gpu_resource=_matching(sec, "gpu_resource", _RESOURCE, "a generic resource kind, e.g. NVIDIA-GPU")
        or "NVIDIA-GPU",
        service=_matching(sec, "service", _SERVICE, "a Swarm service name ([a-zA-Z0-9][a-zA-Z0-9_.-])")
        or "harness-worker",
        replicas=sec.integer("replicas", 1, low=1, high=1000),
        update=_update(sec.section("update")),
        reschedule=sec.integer("reschedule", 1, low=0, high=5),
    )


def _matching(sec: Section, name: str, pattern: re.Pattern[str], allowed: str, *, required: bool = False) -> str:
    value: str | None = sec.string(name, required=required)
    if value is None:
        return ""
    if not pattern.match(value):
        raise ConfigError(sec.source, sec.key(name), f"{value!r} is not {allowed}")
    return value


def _results(sec: Section, base: Path) -> Path:
    """An existing folder; relative to harness.yaml's folder when not absolute. Every node must
    see it at the same path (harness cannot check the nodes' side here: a probe's task says)."""
    value: str = sec.string("results", required=True)
    path = Path(value) if Path(value).is_absolute() else (base / value)
    if not path.is_dir():
        raise ConfigError(
            sec.source, sec.key("results"), f"{value!r} is not a folder (the shared results path, on every node)"
        )
    return path.resolve()


def _update(sec: Section) -> UpdatePolicy:
    sec.check_keys(UPDATE_KEYS)
    return UpdatePolicy(
        order=sec.choice("order", "start-first", UPDATE_ORDERS),
        parallelism=sec.integer("parallelism", 1, low=1, high=1000),
        monitor_s=sec.number("monitor_s", 30.0, low=0.0, high=3600.0),
        failure_action=sec.choice("failure_action", "rollback", FAILURE_ACTIONS),
    )

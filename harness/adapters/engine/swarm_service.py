"""Production on a fleet: the worker as a Swarm service, rolled to a digest by Swarm itself.

The service is made from the same compose.yaml subset the local deployer reads (command,
environment, mounts, health check, labels), with the fleet's replica count and update policy;
GPU workers reserve one GPU each as the fleet's generic resource. Swarm runs the rollout and,
with `failure_action: rollback`, the rollback; harness reads where it stands (rollout.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.errors
import docker.types

from harness.adapters.engine.connection import Connection, engine_errors
from harness.compose import ServiceSpec
from harness.fleetconfig import FleetConfig, UpdatePolicy
from harness.rollout import ServiceImage, ServiceView

_NS = 1_000_000_000  # Swarm's durations are nanoseconds


def update_config(policy: UpdatePolicy) -> docker.types.UpdateConfig:
    return docker.types.UpdateConfig(
        parallelism=policy.parallelism,
        failure_action=policy.failure_action,
        monitor=int(policy.monitor_s * _NS),
        order=policy.order,
    )


def healthcheck(spec: ServiceSpec) -> docker.types.Healthcheck | None:
    if spec.health is None:
        return None
    h = spec.health
    return docker.types.Healthcheck(
        test=list(h.test),
        interval=int(h.interval_s * _NS),
        timeout=int(h.timeout_s * _NS),
        retries=h.retries,
        start_period=int(h.start_period_s * _NS),
    )


def worker_kwargs(spec: ServiceSpec, fleet: FleetConfig, image: str, labels: dict[str, str]) -> dict[str, Any]:
    """services.create/update arguments of the production service on `image` (a digest reference)."""
    generic: dict[str, int | str] | None = {fleet.gpu_resource: 1} if spec.gpu else None
    return {
        "image": image,
        "name": fleet.service,
        "args": list(spec.command) or None,
        "env": [f"{k}={v}" for k, v in spec.environment],
        "mounts": [
            docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
            for m in spec.mounts
        ],
        "labels": labels,
        "container_labels": {**dict(spec.labels), **labels},
        "healthcheck": healthcheck(spec),
        "mode": docker.types.ServiceMode("replicated", replicas=fleet.replicas),
        "update_config": update_config(fleet.update),
        "rollback_config": docker.types.RollbackConfig(
            parallelism=fleet.update.parallelism, monitor=int(fleet.update.monitor_s * _NS), order=fleet.update.order
        ),
        "resources": docker.types.Resources(generic_resources=generic),
        "log_driver": "json-file",
        "log_driver_options": {"max-size": "32m", "max-file": "2"},
    }


@dataclass(frozen=True, kw_only=True)
class SwarmService:
    """The production service on the fleet's manager."""

    conn: Connection
    fleet: FleetConfig

    def roll(self, spec: ServiceSpec, image: str, labels: dict[str, str]) -> None:
        """Create the service on `image`, or update it there (Swarm rolls it by the policy)."""
        kwargs = worker_kwargs(spec, self.fleet, image, self.conn.labels(labels))
        with engine_errors(f"rolling service {self.fleet.service} to {image}"):
            service = self._service()
            if service is None:
                self.conn.client.services.create(**kwargs)  # type: ignore[no-untyped-call]
            else:
                service.update(**kwargs)

    def view(self, image: str) -> ServiceView:
        """The rollout's state, and how many tasks run `image`."""
        with engine_errors(f"reading service {self.fleet.service}"):
            service = self._service()
            if service is None:
                return ServiceView(update_state="gone", update_message="", replicas=self.fleet.replicas, running=0)
            return _view(service, image, self.fleet.replicas)

    def current(self) -> ServiceImage | None:
        """What the service's spec runs now, and its tasks on it (None: no such service)."""
        with engine_errors(f"reading service {self.fleet.service}"):
            service = self._service()
            if service is None:
                return None
            spec = service.attrs.get("Spec") or {}
            image = str(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""))
            replicas = int((spec.get("Mode", {}).get("Replicated") or {}).get("Replicas", self.fleet.replicas))
            return ServiceImage(image=image, view=_view(service, image, replicas))

    def _service(self) -> Any:
        try:
            return self.conn.client.services.get(self.fleet.service)  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            return None


def _view(service: Any, image: str, replicas: int) -> ServiceView:
    """`service`'s update state and its tasks running `image` (running means healthy, when the
    service has a health check: a task stays `starting` until then; see rollout.py)."""
    status = dict(service.attrs.get("UpdateStatus") or {})
    tasks = service.tasks(filters={"desired-state": "running"})
    running = [
        t
        for t in tasks
        if t.get("Status", {}).get("State") == "running"
        and t.get("Spec", {}).get("ContainerSpec", {}).get("Image", "") == image
    ]
    return ServiceView(
        update_state=str(status.get("State", "")),
        update_message=str(status.get("Message", "")),
        replicas=replicas,
        running=len(running),
    )

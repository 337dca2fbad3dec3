"""The production service container: replace it with a new image, read its state."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import docker.errors
import docker.types

from harness.adapters.engine.connection import NO_RUNTIME, Connection, engine_errors, log_config
from harness.compose import ServiceSpec
from harness.errors import NoGpuError, UsageError
from harness.naming import STATE_DIR_LABEL, STATE_LABEL
from harness.services import ServiceState

_NS = 1_000_000_000  # the engine's health check times are nanoseconds


@dataclass(frozen=True, kw_only=True)
class Services:
    """The deployer's engine: one container per compose service, `<project>-<service>`."""

    conn: Connection

    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        """Recreate the service container `<project>-<service>` from `image`; returns its id."""
        name = f"{project}-{spec.name}"
        with engine_errors(f"replacing service {name}"):
            with suppress(docker.errors.NotFound):
                current = self.conn.client.containers.get(name)
                self._refuse_foreign_service(name, dict(current.labels or {}))
                current.remove(force=True)
            try:
                container = self.conn.client.containers.create(image, **self._create_kwargs(spec, name, labels))
                container.start()
            except docker.errors.APIError as exc:
                if NO_RUNTIME in str(exc):
                    raise NoGpuError(
                        f"service {spec.name} reserves a GPU but the engine has no NVIDIA runtime; "
                        "deploy the worker-cpu service on this host"
                    ) from exc
                raise
            return str(container.id)

    def _create_kwargs(self, spec: ServiceSpec, name: str, labels: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "command": list(spec.command) or None,
            "name": name,
            "detach": True,
            "environment": dict(spec.environment),
            "labels": self.conn.labels({**dict(spec.labels), **labels}),
            "mounts": [
                docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                for m in spec.mounts
            ],
            "restart_policy": {"Name": spec.restart if spec.restart != "no" else ""},
            "log_config": log_config(),
        }
        if spec.health is not None:
            kwargs["healthcheck"] = docker.types.Healthcheck(
                test=list(spec.health.test),
                interval=int(spec.health.interval_s * _NS),
                timeout=int(spec.health.timeout_s * _NS),
                retries=spec.health.retries,
                start_period=int(spec.health.start_period_s * _NS),
            )
        if spec.gpu:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return kwargs

    def _refuse_foreign_service(self, name: str, labels: dict[str, str]) -> None:
        """Another state's service of the same name is not ours to replace."""
        other, mine = labels.get(STATE_LABEL, ""), self.conn.owner.get(STATE_LABEL, "")
        if other and mine and other != mine:
            folder = labels.get(STATE_DIR_LABEL) or "unknown folder"
            raise UsageError(
                f"the service container {name} belongs to another harness state (folder {folder} / id {other}); "
                "give this state its own deploy.project in its harness.yaml"
            )

    def service_state(self, container_id: str) -> ServiceState:
        with engine_errors("inspecting the service"):
            try:
                container = self.conn.client.containers.get(container_id)
            except docker.errors.NotFound:
                return ServiceState(status="gone", health="", restarts=0, log_tail="")
            state = container.attrs.get("State", {})
            tail = container.logs(tail=20).decode("utf-8", "replace")
        return ServiceState(
            status=str(state.get("Status", "")),
            health=str((state.get("Health") or {}).get("Status", "")),
            restarts=int(container.attrs.get("RestartCount", 0)),
            log_tail=tail,
        )

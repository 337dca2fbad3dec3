"""One engine connection shared by the role adapters: the client, error mapping, owner labels."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from harness.errors import EngineUnavailable, RunInfraError
from harness.naming import SESSION_LABEL
from harness.runplan import ENGINE_LOG_DRIVER, ENGINE_LOG_OPTIONS
from harness.session import session_id

# What the engine answers to a DeviceRequest when it has no NVIDIA container runtime.
NO_RUNTIME = "could not select device driver"


def log_config() -> docker.types.LogConfig:
    """On every container harness creates: the engine's own log copy is bounded (runplan)."""
    return docker.types.LogConfig(type=ENGINE_LOG_DRIVER, config=dict(ENGINE_LOG_OPTIONS))


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Turn transport failures into EngineUnavailable, API errors into RunInfraError."""
    try:
        yield
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        if isinstance(exc, docker.errors.APIError):
            raise RunInfraError(f"{what}: {exc.explanation or exc}") from exc
        raise EngineUnavailable(f"Docker engine unavailable during {what}: {exc}") from exc


def remove_quietly(container: Any) -> None:
    """Force-remove a container we created; one already gone, or an engine gone, is no error."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        # The engine is gone; its label lets `gc` reap the leftover later.
        pass


class Connection:
    """The engine client the roles share, and the labels of the state they work for.

    `owner`: the labels of the harness state this client works for (naming.owner_labels).
    Every container created through it carries them and this process's session, whatever the
    caller passed: that is what `gc` reaps by, and what keeps one state's hands off another's.
    """

    def __init__(
        self, environment: Mapping[str, str], *, timeout: int = 120, owner: Mapping[str, str] | None = None
    ) -> None:
        self.environment = dict(environment)
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self.owner = {SESSION_LABEL: session_id(), **(owner or {})}

    def labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """`labels` with the owner's on top: a caller cannot pass another state's."""
        return {**labels, **self.owner}

    @property
    def client(self) -> docker.DockerClient:
        """Connected on first use, so bad input is refused before any engine call."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        """Drop the client's connections (a long-running watcher makes a client per report)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> docker.DockerClient:
        where = self.environment.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            client = docker.from_env(environment=self.environment, timeout=self._timeout)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineUnavailable(
                f"the Docker engine at {where} does not answer ({type(exc).__name__}). Start it "
                "(scripts/setup-host.sh starts dockerd) or point DOCKER_HOST at a running engine."
            ) from exc
        return client

    def api_client(self, timeout_s: float) -> docker.APIClient:
        """A low-level client of its own, for one long call that must be cancellable by closing it."""
        return docker.from_env(environment=self.environment, timeout=max(60, int(timeout_s))).api

"""The Docker engine, through docker-py: the only package that imports `docker`.

One connection, several roles, each the port one kind of use case needs: `images` (ImageBuilder),
`containers` (ContainerRunner), `services` (the deployer's), `inventory` (gc and reaping),
`info` (doctor). `connect` is the one constructor callers use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import docker

from harness.adapters.engine.connection import Connection
from harness.adapters.engine.containers import Containers
from harness.adapters.engine.images import Images
from harness.adapters.engine.info import Info
from harness.adapters.engine.inventory import Inventory
from harness.adapters.engine.services import Services

__all__ = ["Containers", "Engine", "Images", "Info", "Inventory", "Services", "connect"]


@dataclass(frozen=True, kw_only=True)
class Engine:
    """The roles of one engine connection; hand each use case only the role it needs."""

    connection: Connection
    images: Images
    containers: Containers
    services: Services
    inventory: Inventory
    info: Info

    @property
    def client(self) -> docker.DockerClient:
        """The raw client (tests and benchmarks look at the engine through it)."""
        return self.connection.client


def connect(environment: Mapping[str, str], *, owner: Mapping[str, str] | None = None, timeout: int = 120) -> Engine:
    """The engine roles over one connection, made on first use (bad input is refused before it).

    `owner`: the labels of the harness state this client works for (naming.owner_labels); every
    container created through any role carries them and this process's session.
    """
    conn = Connection(environment, timeout=timeout, owner=owner)
    info = Info(conn=conn)
    return Engine(
        connection=conn,
        images=Images(conn=conn),
        containers=Containers(conn=conn, info=info),
        services=Services(conn=conn),
        inventory=Inventory(conn=conn),
        info=info,
    )

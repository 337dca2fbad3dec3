"""Value objects for what runs on the engine besides test containers: services, leftovers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    status: str  # created | running | restarting | exited | dead | gone
    health: str  # starting | healthy | unhealthy | "" (no health check)
    restarts: int
    log_tail: str


@dataclass(frozen=True, kw_only=True)
class ContainerInfo:
    id: str
    name: str
    status: str
    image_id: str
    labels: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: dict[str, str]
    created: str
    size: int = 0  # bytes (the report's image size; 0: not asked)

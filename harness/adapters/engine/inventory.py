"""What harness left on the engine, found by label and removed: the role `gc` and reaping use.

Images and containers together: gc weighs both in one plan (a container keeps its image), so it
gets one role that lists and removes both, not the builder and the runner.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import docker.errors

from harness.adapters.engine.connection import Connection, engine_errors
from harness.adapters.engine.images import image_infos
from harness.services import ContainerInfo, ImageInfo


def _container_info(container: Any) -> ContainerInfo:
    return ContainerInfo(
        id=str(container.id),
        name=str(container.name),
        status=str(container.status),
        # attrs, not container.image: that looks the image up, and a leftover's may be gone
        image_id=str(container.attrs.get("Image", "")),
        labels=dict(container.labels),
    )


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """Labelled images and containers: list them, remove them (GcEngine, SessionContainers)."""

    conn: Connection

    def containers(self, *labels: str) -> list[ContainerInfo]:
        """Every container (running or not) that carries all `labels` (key or key=value)."""
        with engine_errors("listing containers"):
            # ignore_removed: a build step's container may go between the listing and its inspection
            found = self.conn.client.containers.list(all=True, filters={"label": list(labels)}, ignore_removed=True)
            return [_container_info(c) for c in found]

    def container(self, container_id: str) -> ContainerInfo | None:
        """One container by id (or a unique prefix of it), running or not; None if there is none."""
        # A list filter, not a get: the engine answers 404 to a build step's container by short id.
        with engine_errors("listing containers"):
            found = self.conn.client.containers.list(all=True, filters={"id": container_id}, ignore_removed=True)
        return next((_container_info(c) for c in found if str(c.id).startswith(container_id)), None)

    def remove_container(self, container_id: str) -> None:
        with engine_errors("removing a container"), suppress(docker.errors.NotFound):
            self.conn.client.containers.get(container_id).remove(force=True)

    def summaries(self, *labels: str) -> list[ImageInfo]:
        """Images (tagged or not) that carry all `labels`, with their size, from one listing (the
        report asks for hundreds: no inspection each)."""
        with engine_errors("listing images"):
            rows = self.conn.client.api.images(all=False, filters={"label": list(labels)})
        return [
            ImageInfo(
                id=str(row.get("Id", "")),
                tags=tuple(t for t in row.get("RepoTags") or () if t != "<none>:<none>"),
                labels=dict(row.get("Labels") or {}),
                created=str(row.get("Created", "")),
                size=int(row.get("Size") or 0),
            )
            for row in rows
        ]

    def images(self, *labels: str) -> list[ImageInfo]:
        """Tagged images that carry all `labels`."""
        with engine_errors("listing images"):
            return image_infos(self.conn, filters={"label": list(labels)})

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        """Every image tagged in any of `repos` (any tag)."""
        with engine_errors(f"listing the images of {', '.join(repos)}"):
            return image_infos(self.conn, filters={"reference": list(repos)})

    def dangling(self, *labels: str) -> list[str]:
        """Untagged images (kept build stages) that carry all `labels`."""
        with engine_errors("listing images"):
            ids = self.conn.client.api.images(filters={"label": list(labels), "dangling": True}, quiet=True)
            return [str(i) for i in ids]

    def remove_image(self, ref: str) -> bool:
        """Remove an image (by id or tag); False when the engine refuses (in use, has children)."""
        with engine_errors(f"removing {ref}"):
            try:
                self.conn.client.images.remove(ref, noprune=False)
            except docker.errors.ImageNotFound:
                return True
            except docker.errors.APIError:
                return False
        return True

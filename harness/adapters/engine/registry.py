"""Images to the fleet's registry: pushed from the engine that built them, known by digest after.

A push that fails (the registry down, refused, a layer cut off) is infra (exit 125). The name
an image is pushed under is removed again from the local engine once the push is over, whether
it succeeded or not: nothing is left tagged for the registry here.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import docker.errors

from harness.adapters.engine.connection import Connection, engine_errors
from harness.errors import RunInfraError


def push(conn: Connection, image_id: str, *, registry: str, repo: str, tag: str) -> str:
    """Push `image_id` as `<registry>/<repo>:<tag>`; its digest (sha256:...) in that registry."""
    name = f"{registry}/{repo}"
    with engine_errors(f"tagging {image_id[:19]} for {registry}"):
        if not conn.client.api.tag(image_id, name, tag, force=True):
            raise RunInfraError(f"the engine refused to tag {image_id} as {name}:{tag}")
    try:
        with engine_errors(f"pushing {name}:{tag}"):
            return _digest(conn.client.api.push(name, tag=tag, stream=True, decode=True), f"{name}:{tag}")
    finally:
        # Only the registry keeps that name: here it would pile up, one per run, where gc never
        # looks. Unless it is the image's only tag: removing that would remove the image.
        with suppress(docker.errors.DockerException):
            if len(conn.client.images.get(image_id).tags) > 1:
                conn.client.api.remove_image(f"{name}:{tag}", noprune=True)


def _digest(stream: Any, what: str) -> str:
    """The digest the push stream reports last; its error entry is the push's failure."""
    digest = ""
    for entry in stream:
        if "error" in entry:
            raise RunInfraError(f"pushing {what}: {entry.get('error')}")
        digest = str((entry.get("aux") or {}).get("Digest") or digest)
    if not digest.startswith("sha256:"):
        raise RunInfraError(f"pushing {what}: the registry reported no digest")
    return digest

"""What the engine is and has: its version, runtimes, memory, and whether an image is there."""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors

from harness.adapters.engine.connection import Connection, engine_errors


def find_image_id(conn: Connection, name: str) -> str | None:
    """The id of image `name` (a tag or an id) on the engine, None when it has none."""
    with engine_errors(f"inspecting {name}"):
        try:
            return str(conn.client.images.get(name).id)
        except docker.errors.ImageNotFound:
            return None


@dataclass(frozen=True, kw_only=True)
class Info:
    """The engine's own facts (doctor, GPU mode planning, default memory limits)."""

    conn: Connection

    def version(self) -> str:
        with engine_errors("reading the engine version"):
            info = self.conn.client.version()
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    def runtimes(self) -> set[str]:
        with engine_errors("reading engine info"):
            return set((self.conn.client.info().get("Runtimes") or {}).keys())

    def memory_total(self) -> int:
        """Bytes of RAM of the engine's host (not this process's: DOCKER_HOST may be remote)."""
        with engine_errors("reading engine info"):
            return int(self.conn.client.info().get("MemTotal") or 0)

    def image_id(self, name: str) -> str | None:
        """Whether the engine has image `name` (doctor's base-image row)."""
        return find_image_id(self.conn, name)

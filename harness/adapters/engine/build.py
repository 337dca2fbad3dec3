"""One image build through the classic builder, with a deadline docker-py does not have."""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import docker
import docker.errors
import requests

from harness.adapters.engine.connection import Connection
from harness.adapters.engine.info import find_image_id
from harness.errors import BuildFailed, BuildInfraError, BuildTimeout, EngineUnavailable, HarnessError
from harness.model import BuildSpec

LineSink = Callable[[str], None]
Events = queue.Queue[tuple[str, Any]]
_RUNNING_IN = re.compile(r"---> Running in ([0-9a-f]{12,64})")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})")


@dataclass(kw_only=True)
class _Progress:
    """What the build's stream said so far: the log tail, the running step, the image."""

    tail: deque[str] = field(default_factory=lambda: deque(maxlen=60))
    step_container: str = ""
    image_id: str = ""
    built: str = ""

    def take(self, spec: BuildSpec, item: dict[str, Any], on_line: LineSink) -> None:
        for line in str(item.get("stream", "")).splitlines():
            self.tail.append(line)
            on_line(line)
            if match := _RUNNING_IN.search(line):
                self.step_container = match[1]
            if match := _BUILT.match(line):
                self.built = match[1]
        aux = item.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            self.image_id = str(aux["ID"])
        if "error" in item:
            # The engine's own message joins the log: it may be all there is (a failed FROM).
            error = str(item["error"]).strip()
            raise BuildFailed(spec.stage, error, (*self.tail, error))


def run_build(
    conn: Connection, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool
) -> str:
    """Build `spec`; the image id the engine reports, never the tag's (a concurrent build of the
    same commit may have taken the tag)."""
    # A client of its own: on timeout we close it, which drops the connection, and the
    # engine cancels a classic build whose client went away.
    api = conn.api_client(timeout_s)
    events: Events = queue.Queue()
    pump = threading.Thread(
        target=_pump, args=(api, spec, context, nocache, events), name=f"build-{spec.stage}", daemon=True
    )
    pump.start()
    progress = _Progress()
    try:
        _follow(conn, spec, events, progress, timeout_s=timeout_s, on_line=on_line)
    finally:
        api.close()
    image_id = progress.image_id
    if not image_id and progress.built:
        image_id = find_image_id(conn, progress.built) or ""
    if not image_id:
        raise BuildInfraError(f"{spec.stage} image build ended without an image id")
    return image_id


def _pump(api: docker.APIClient, spec: BuildSpec, context: BinaryIO, nocache: bool, events: Events) -> None:
    """In a thread: the build's stream as events, so the waiter can keep its own deadline."""
    try:
        for chunk in api.build(
            fileobj=context,
            custom_context=True,
            tag=spec.tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            nocache=nocache,
            buildargs=dict(spec.buildargs),
        ):  # labels: in the Dockerfile
            events.put(("chunk", chunk))
        events.put(("end", None))
    except Exception as exc:  # noqa: BLE001 - handed to the waiting thread as is
        events.put(("exc", exc))


def _follow(
    conn: Connection, spec: BuildSpec, events: Events, progress: _Progress, *, timeout_s: float, on_line: LineSink
) -> None:
    """Take the build's events until it ends, fails, or passes `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _stop_step(conn, progress.step_container)
            raise BuildTimeout(f"{spec.stage} image build passed its {timeout_s:.0f} s limit")
        try:
            kind, item = events.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if kind == "end":
            return
        if kind == "exc":
            raise _build_error(spec, item) from item
        progress.take(spec, item, on_line)


def _stop_step(conn: Connection, step_container: str) -> None:
    # Closing our connection does not stop a classic build on every engine: kill the step's
    # container, which fails the step and ends the build.
    if step_container:
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            conn.client.containers.get(step_container).remove(force=True)


def _build_error(spec: BuildSpec, exc: Exception) -> HarnessError:
    if isinstance(exc, docker.errors.APIError):
        return BuildInfraError(f"{spec.stage} image build: {exc.explanation or exc}")
    return EngineUnavailable(f"Docker engine unavailable during the {spec.stage} build: {exc}")

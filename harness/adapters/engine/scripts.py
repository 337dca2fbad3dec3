"""Script jobs: a command in a container of an image, with volumes, committed as a new image.

The deps builds run this way, not as Dockerfile steps: the classic builder mounts no volume,
and uv's download cache must outlive one build. A committed container is one layer over the
image it started from (a delta over an older deps image holds only what `uv pip sync` changed).
"""

from __future__ import annotations

import io
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Any

import docker.errors
import requests
from docker.utils import parse_repository_tag

from harness.adapters.engine.build import LineSink
from harness.adapters.engine.connection import Connection, engine_errors, log_config, remove_quietly
from harness.errors import BuildTimeout
from harness.model import CommitTo, ScriptJob, ScriptResult
from harness.naming import SESSION_LABEL

CACHE_VOLUME_LABELS = {"harness.purpose": "download-cache"}  # no state label: every state shares it
CONTAINER_ONLY = ("harness.purpose", "harness.build-stage", SESSION_LABEL)
TAIL_LINES = 60
Acceptance = Callable[[ScriptResult], str]  # ports.Acceptance: "" commits, else why not


def run_script(
    conn: Connection, job: ScriptJob, *, timeout_s: float, on_line: LineSink, accept: Acceptance | None = None
) -> ScriptResult:
    """Run `job`; its exit code and output tail, the files it left, and the committed image when
    it exited 0 and `accept` (given what it left) has no objection."""
    started = time.monotonic()
    with engine_errors(f"the {job.stage} build in a container of {job.image}"):
        for name, _ in job.volumes:
            _volume(conn, name)
        container = conn.client.containers.create(
            job.image,
            command=list(job.command),
            entrypoint=[],
            environment=dict(job.env),
            labels=conn.labels({"harness.purpose": "build-step", "harness.build-stage": job.stage}),
            volumes={name: {"bind": path, "mode": "rw"} for name, path in job.volumes},
            working_dir="/",
            user="0",
            log_config=log_config(),
        )
        try:
            return _run(conn, container, job, started, timeout_s=timeout_s, on_line=on_line, accept=accept)
        finally:
            remove_quietly(container)


def _run(
    conn: Connection,
    container: Any,
    job: ScriptJob,
    started: float,
    *,
    timeout_s: float,
    on_line: LineSink,
    accept: Acceptance | None,
) -> ScriptResult:
    if job.files:
        container.put_archive("/opt/harness", _archive(job.files))
    container.start()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    follower = threading.Thread(target=_follow, args=(container, on_line, tail), daemon=True)
    follower.start()
    code = _wait(conn, container, job, started + timeout_s, timeout_s)
    follower.join(timeout=10)
    files = tuple((path, _read(container, path)) for path in job.read_back)
    result = ScriptResult(
        image_id="", files=files, seconds=time.monotonic() - started, exit_code=code, tail=tuple(tail)
    )
    if job.commit is None or code != 0:
        return result
    refused = accept(result) if accept is not None else ""
    image_id = "" if refused else _commit(container, job.commit)
    return replace(result, image_id=image_id, refused=refused, seconds=time.monotonic() - started)


def _volume(conn: Connection, name: str) -> None:
    try:
        conn.client.volumes.get(name)
    except docker.errors.NotFound:
        with suppress(docker.errors.APIError):  # made meanwhile by a concurrent build: fine
            conn.client.volumes.create(name, labels=CACHE_VOLUME_LABELS)


def _archive(files: tuple[tuple[str, bytes], ...]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _follow(container: Any, on_line: LineSink, tail: deque[str]) -> None:
    """In a thread: the container's output, line by line, to `on_line` and the kept tail."""
    pending = b""
    with suppress(requests.exceptions.RequestException, docker.errors.DockerException):
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            pending = (pending + chunk)[-65536:]
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                tail.append(line)
                on_line(line)
    if pending:
        tail.append(pending.decode("utf-8", "replace"))


def _wait(conn: Connection, container: Any, job: ScriptJob, deadline: float, timeout_s: float) -> int:
    while True:
        if time.monotonic() >= deadline:
            with suppress(docker.errors.APIError):
                container.kill()
            raise BuildTimeout(f"{job.stage} image build passed its {timeout_s:.0f} s limit")
        try:
            return int(container.wait(timeout=1).get("StatusCode", -1))
        except requests.exceptions.RequestException:
            conn.client.ping()  # still there: only our poll timed out


def _read(container: Any, path: str) -> str:
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member else None
        return handle.read().decode("utf-8", "replace") if handle else ""


def _commit(container: Any, to: CommitTo) -> str:
    """The container as an image, tagged; labels through the config (exact text, newlines
    kept), the rest as Dockerfile instructions. An ENTRYPOINT among them keeps the container's
    command (the build script) out of the image's CMD.

    The engine gives the image the container's labels too, and a commit cannot drop one: the
    container-only ones are blanked, or every container later made from the image (a commit
    build's steps) would carry this build's session, which the reaper takes for a dead one's."""
    repository, tag = parse_repository_tag(to.tag)
    labels = {**dict.fromkeys(CONTAINER_ONLY, ""), **dict(to.labels)}
    image = container.commit(repository=repository, tag=tag, changes=list(to.changes), conf={"Labels": labels})
    return str(image.id)

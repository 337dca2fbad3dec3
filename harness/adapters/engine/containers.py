"""Test containers: create one from a RunRequest, follow its log, wait with our deadlines, remove it."""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests

from harness.adapters.engine.build import LineSink
from harness.adapters.engine.connection import NO_RUNTIME, Connection, engine_errors, log_config, remove_quietly
from harness.adapters.engine.info import Info
from harness.adapters.run_files import tree_bytes
from harness.diskfull import is_full
from harness.errors import NoGpuError, RunInfraError
from harness.limits import MEMORY_SHARE
from harness.runplan import ContainerExit, RunRequest

# The unprivileged uid has no passwd entry: getpass.getuser() (torch's cache dirs) reads these
# first, or raises - and torch's import then half-fails ("Artifact ... already registered").
_IDENTITY = (("HOME", "/tmp"), ("USER", "harness"), ("LOGNAME", "harness"))


class _Output:
    """What the log follower shares with the waiter: when output last came, how much was kept."""

    def __init__(self, last: float, cap: int) -> None:
        self.last, self.cap, self.written = last, cap, 0
        self.full = ""  # why the log could not be written (a full disk), "" while it can


@dataclass(frozen=True, kw_only=True)
class Containers:
    """The ContainerRunner port: one test container per run, removed on any exit."""

    conn: Connection
    info: Info

    def runtimes(self) -> set[str]:
        return self.info.runtimes()

    def host_config(self, req: RunRequest) -> dict[str, Any]:
        """The HostConfig the engine records for `req`, from a created, never started container."""
        with engine_errors(f"creating a container of {req.image}"):
            container = self.conn.client.containers.create(req.image, **self._create_kwargs(req))
            try:
                return dict(container.attrs.get("HostConfig", {}))
            finally:
                container.remove(force=True)

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        """Run detached, follow the logs into `log_path`, wait with our own deadline, always remove."""
        started = time.monotonic()
        container: Any = None
        try:
            with engine_errors(f"starting {request.image}"):
                container = self._create(request)
            output = _Output(time.monotonic(), request.limits.max_log_bytes)
            follower = threading.Thread(target=_follow, args=(container, log_path, on_line, output), daemon=True)
            follower.start()
            exit_code, killed_for = self._wait(container, started + request.timeout_s, output, request)
            follower.join(timeout=10)
            if output.full:  # the run's evidence is incomplete: infra, never the commit's verdict
                raise RunInfraError(output.full)
            with engine_errors("inspecting the test container"):
                container.reload()
                oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            return ContainerExit(
                exit_code=exit_code,
                timed_out=killed_for in ("deadline", "silence"),
                oom_killed=oom,
                seconds=time.monotonic() - started,
                killed_for=killed_for,
            )
        finally:
            if container is not None:
                remove_quietly(container)

    def _create_kwargs(self, req: RunRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "command": list(req.command),
            "name": req.name,
            "detach": True,
            "labels": self.conn.labels(dict(req.labels)),
            "environment": dict(req.environment + req.gpu.environment),
            "mounts": [
                docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                for m in req.mounts + req.gpu.mounts
            ],
            "devices": [f"{d}:{d}:rwm" for d in req.gpu.devices],
            "network_mode": "host" if req.host_network else "bridge" if req.network else "none",
            # Confinement (SECURITY.md): no capabilities, no privilege gain, bounded processes.
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": req.limits.pids,
            "user": req.limits.user,
            "read_only": req.limits.read_only_root,
            "tmpfs": dict(req.limits.tmpfs),
            "log_config": log_config(),
        }
        for name, value in _IDENTITY:
            kwargs["environment"].setdefault(name, value)
        memory = self._memory_limit(req.limits.memory_bytes)
        if memory:
            kwargs["mem_limit"] = memory
            kwargs["memswap_limit"] = memory  # no swap past the limit
        if req.gpu.device_request:
            ids = [str(i) for i in req.gpu.device_ids]
            kwargs["device_requests"] = [
                docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]])
                if ids
                else docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
            ]
        return kwargs

    def _memory_limit(self, configured: int | None) -> int:
        """Bytes of memory for a container: as configured (0: unlimited), by default a share of the
        engine host's RAM (the engine's, not this process's host: DOCKER_HOST may be remote)."""
        if configured is not None:
            return configured
        return int(self.info.memory_total() * MEMORY_SHARE)

    def _create(self, req: RunRequest) -> Any:
        container = self.conn.client.containers.create(req.image, **self._create_kwargs(req))
        try:
            container.start()
        except docker.errors.APIError as exc:
            remove_quietly(container)  # created but never started: nothing else would remove it
            if NO_RUNTIME in str(exc):
                raise NoGpuError(
                    "the engine has no NVIDIA container runtime (DeviceRequest refused: "
                    f"{exc.explanation}); use gpu: devices or auto on this host"
                ) from exc
            raise
        except BaseException:  # Ctrl-C or SIGTERM while it starts: the caller never got it to remove
            remove_quietly(container)
            raise
        return container

    def _wait(self, container: Any, deadline: float, output: _Output, req: RunRequest) -> tuple[int | None, str]:
        """Exit code and "", or None and why harness killed it (deadline, silence, output)."""
        while True:
            killed_for = _kill_reason(time.monotonic(), deadline, output, req)
            if killed_for:
                with engine_errors("stopping the test container"), suppress(docker.errors.APIError):
                    container.kill()  # APIError: it exited meanwhile
                return None, killed_for
            try:
                status = container.wait(timeout=1)
                return int(status.get("StatusCode", -1)), ""
            except requests.exceptions.RequestException:
                with engine_errors("waiting for the test container"):
                    self.conn.client.ping()  # still there: it was only our poll timing out


def _kill_reason(now: float, deadline: float, output: _Output, req: RunRequest) -> str:
    """Why harness must kill the container now ("" while none): deadline, silence, output size."""
    silence_s, cap = req.limits.silence_s, req.limits.max_output_bytes
    killed_for = "deadline" if now >= deadline else ""
    if silence_s and now - output.last >= silence_s:
        killed_for = "silence"
    if req.output_dir and cap and tree_bytes(Path(req.output_dir), cap) > cap:
        killed_for = "output"  # checked each poll (1 s): a size check, not a quota
    return killed_for


def _follow(container: Any, log_path: str, on_line: LineSink, output: _Output) -> None:
    """In a thread: the container's output into `log_path` (capped) and `on_line`, line by line."""
    try:
        # Unbuffered: each chunk is written (and flushed) at once anyway, and a full disk must
        # not leave bytes in a buffer that `close` would fail to write again.
        log_file = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        if not is_full(exc):
            raise
        output.full = f"disk full creating the container log {log_path} ({exc.strerror}); nothing of it was kept"
        return
    pending = b""
    with log_file as log:
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                output.last = time.monotonic()
                _keep(log, chunk, log_path, output)
                pending = (pending + chunk)[-65536:]  # a line longer than this is cut, not buffered
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", "replace"))
        except (requests.exceptions.RequestException, docker.errors.DockerException):
            return  # the container went away: what was written stays


def _keep(log: Any, chunk: bytes, log_path: str, output: _Output) -> None:
    """Write `chunk` to the log up to its cap; a full disk stops the writing, not the following."""
    if output.written >= output.cap or output.full:
        return
    try:
        log.write(chunk[: output.cap - output.written])
        if output.written + len(chunk) >= output.cap:
            log.write(f"\n[harness] log capped at {output.cap >> 20} MiB\n".encode())
    except OSError as exc:
        if not is_full(exc):
            raise
        output.full = (
            f"disk full writing the container log {log_path} ({exc.strerror}); "
            f"it is kept up to about byte {output.written}; free space there, then run it again"
        )
    output.written += len(chunk)

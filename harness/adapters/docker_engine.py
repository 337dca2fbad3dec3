"""The Docker engine, through docker-py. The only module that imports `docker`."""

from __future__ import annotations

import contextlib
import io
import json
import queue
import re
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors
import docker.types
import requests

from harness.adapters.run_files import tree_bytes
from harness.compose import ServiceSpec
from harness.config import MEMORY_SHARE
from harness.diskfull import is_full
from harness.errors import (
    BuildFailed,
    BuildInfraError,
    BuildTimeout,
    EngineUnavailable,
    NoGpuError,
    RunInfraError,
    UsageError,
)
from harness.model import BuildSpec
from harness.naming import SESSION_LABEL, STATE_DIR_LABEL, STATE_LABEL
from harness.runplan import ENGINE_LOG_DRIVER, ENGINE_LOG_OPTIONS, ContainerExit, RunRequest
from harness.services import ContainerInfo, ImageInfo, ServiceState
from harness.session import session_id

LineSink = Callable[[str], None]
_NO_RUNTIME = "could not select device driver"
_RUNNING_IN = re.compile(r"---> Running in ([0-9a-f]{12,64})")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})")


def _log_config() -> docker.types.LogConfig:
    """On every container harness creates: the engine's own log copy is bounded (runplan)."""
    return docker.types.LogConfig(type=ENGINE_LOG_DRIVER, config=dict(ENGINE_LOG_OPTIONS))


@contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Turn transport failures into EngineUnavailable, API errors into RunInfraError."""
    try:
        yield
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        if isinstance(exc, docker.errors.APIError):
            raise RunInfraError(f"{what}: {exc.explanation or exc}") from exc
        raise EngineUnavailable(f"Docker engine unavailable during {what}: {exc}") from exc


class _Output:
    """What the log follower shares with the waiter: when output last came, how much was kept."""

    def __init__(self, last: float, cap: int) -> None:
        self.last, self.cap, self.written = last, cap, 0
        self.full = ""  # why the log could not be written (a full disk), "" while it can


class DockerEngine:
    """ImageBuilder and ContainerRunner on a real engine.

    `owner`: the labels of the harness state this client works for (naming.owner_labels).
    Every container it creates carries them and this process's session, whatever the caller
    passed: that is what `gc` reaps by, and what keeps one state's hands off another's.
    """

    def __init__(
        self, environment: Mapping[str, str], *, timeout: int = 120, owner: Mapping[str, str] | None = None
    ) -> None:
        self._environment = dict(environment)
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self._owner = {SESSION_LABEL: session_id(), **(owner or {})}

    def _labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        return {**labels, **self._owner}

    @property
    def client(self) -> docker.DockerClient:
        """Connected on first use, so bad input is refused before any engine call."""
        if self._client is None:
            self._client = self._connect(self._timeout)
        return self._client

    def _connect(self, timeout: int) -> docker.DockerClient:
        where = self._environment.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            client = docker.from_env(environment=self._environment, timeout=timeout)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineUnavailable(
                f"the Docker engine at {where} does not answer ({type(exc).__name__}). Start it "
                "(scripts/setup-host.sh starts dockerd) or point DOCKER_HOST at a running engine."
            ) from exc
        return client

    # -- images -------------------------------------------------------------------------
    def image_id(self, name: str) -> str | None:
        with _engine_errors(f"inspecting {name}"):
            try:
                return str(self.client.images.get(name).id)
            except docker.errors.ImageNotFound:
                return None

    def image_labels(self, name: str) -> dict[str, str]:
        with _engine_errors(f"inspecting {name}"):
            try:
                return dict(self.client.images.get(name).labels or {})
            except docker.errors.ImageNotFound:
                return {}

    def image_env(self, name: str) -> list[str]:
        with _engine_errors(f"inspecting {name}"):
            try:
                return list(self.client.images.get(name).attrs.get("Config", {}).get("Env") or [])
            except docker.errors.ImageNotFound:
                return []

    def repo_digest(self, name: str) -> str:
        with _engine_errors(f"inspecting {name}"):
            try:
                digests = self.client.images.get(name).attrs.get("RepoDigests") or []
            except docker.errors.ImageNotFound:
                return ""
        return str(digests[0]).split("@", 1)[-1] if digests else ""

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        with _engine_errors(f"tagging {repo}:{tag}"):
            if not self.client.api.tag(image_id, repo, tag, force=True):
                raise RunInfraError(f"the engine refused to tag {image_id} as {repo}:{tag}")

    @contextlib.contextmanager
    def _inspection(self, image: str, **kwargs: Any) -> Iterator[Any]:
        """A container of `image` to look inside, labelled for gc and removed on any exit. Not
        containers.run(remove=True): a Ctrl-C during its wait skipped the removal and left the
        container behind (it carries the image's harness.commit label)."""
        container = self.client.containers.create(
            image, labels=self._labels({"harness.purpose": "inspect"}), log_config=_log_config(), **kwargs
        )
        try:
            yield container
        finally:
            container.remove(force=True)

    def read_file(self, image: str, path: str) -> str:
        """Read one file out of an image without running anything in it."""
        with _engine_errors(f"reading {path} from {image}"), self._inspection(
            image, command=["true"], entrypoint=[]
        ) as container:
            try:
                stream, _ = container.get_archive(path)
                data = b"".join(stream)
            except docker.errors.NotFound:
                return ""
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member else None
            return handle.read().decode("utf-8", "replace") if handle else ""

    def torch_arch_list(self, image: str) -> list[str] | None:
        """CUDA architectures torch in `image` was built for ([] for a CPU build, None: no torch)."""
        # get_arch_list() is [] whenever no GPU is visible, as in this inspection container; the
        # build flags are what the wheel carries. None: a CUDA build that does not say.
        code = (
            "import json, torch; f = getattr(torch._C, '_cuda_getArchFlags', lambda: None)(); "
            "print(json.dumps(f.split() if f else ([] if torch.version.cuda is None else None)))"
        )
        with _engine_errors(f"reading torch's arch list in {image}"), self._inspection(
            image, entrypoint=["python", "-c", code], network_disabled=True
        ) as container:
            container.start()
            if int(container.wait().get("StatusCode", 1)) != 0:
                return None
            out = bytes(container.logs(stdout=True, stderr=False))
        try:
            value = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None
        return [str(v) for v in value] if isinstance(value, list) else None

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        """Build `spec` from a ready tar context; docker-py has no build timeout, so we keep one."""
        # A client of its own: on timeout we close it, which drops the connection, and the
        # engine cancels a classic build whose client went away.
        api = docker.from_env(environment=self._environment, timeout=max(60, int(timeout_s))).api
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def pump() -> None:
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

        threading.Thread(target=pump, name=f"build-{spec.stage}", daemon=True).start()
        deadline = time.monotonic() + timeout_s
        tail: deque[str] = deque(maxlen=60)
        step_container = ""
        image_id = built = ""
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if step_container:
                        # Closing our connection does not stop a classic build on every engine:
                        # kill the step's container, which fails the step and ends the build.
                        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                            self.client.containers.get(step_container).remove(force=True)
                    raise BuildTimeout(f"{spec.stage} image build passed its {timeout_s:.0f} s limit")
                try:
                    kind, item = events.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    continue
                if kind == "end":
                    break
                if kind == "exc":
                    if isinstance(item, docker.errors.APIError):
                        raise BuildInfraError(f"{spec.stage} image build: {item.explanation or item}") from item
                    raise EngineUnavailable(
                        f"Docker engine unavailable during the {spec.stage} build: {item}"
                    ) from item
                for line in str(item.get("stream", "")).splitlines():
                    tail.append(line)
                    on_line(line)
                    if match := _RUNNING_IN.search(line):
                        step_container = match[1]
                    if match := _BUILT.match(line):
                        built = match[1]
                if "aux" in item and isinstance(item["aux"], dict) and "ID" in item["aux"]:
                    image_id = str(item["aux"]["ID"])
                if "error" in item:
                    # The engine's own message joins the log: it may be all there is (a failed FROM).
                    raise BuildFailed(spec.stage, str(item["error"]).strip(), (*tail, str(item["error"]).strip()))
        finally:
            api.close()
        if not image_id and built:
            # Never the tag's image: a concurrent build of the same commit may have taken the tag.
            image_id = self.image_id(built) or ""
        if not image_id:
            raise BuildInfraError(f"{spec.stage} image build ended without an image id")
        return image_id

    def version(self) -> str:
        with _engine_errors("reading the engine version"):
            info = self.client.version()
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    # -- containers -----------------------------------------------------------------------
    def runtimes(self) -> set[str]:
        with _engine_errors("reading engine info"):
            return set((self.client.info().get("Runtimes") or {}).keys())

    def host_config(self, req: RunRequest) -> dict[str, Any]:
        """The HostConfig the engine records for `req`, from a created, never started container."""
        with _engine_errors(f"creating a container of {req.image}"):
            container = self.client.containers.create(req.image, **self._create_kwargs(req))
            try:
                return dict(container.attrs.get("HostConfig", {}))
            finally:
                container.remove(force=True)

    def _create_kwargs(self, req: RunRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "command": list(req.command),
            "name": req.name,
            "detach": True,
            "labels": self._labels(dict(req.labels)),
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
            "log_config": _log_config(),
        }
        # The unprivileged uid has no passwd entry: getpass.getuser() (torch's cache dirs) reads these
        # first, or raises - and torch's import then half-fails ("Artifact ... already registered").
        for name, value in (("HOME", "/tmp"), ("USER", "harness"), ("LOGNAME", "harness")):
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
        with _engine_errors("reading engine info"):
            total = int(self.client.info().get("MemTotal") or 0)
        return int(total * MEMORY_SHARE)

    def _create(self, req: RunRequest) -> Any:
        container = self.client.containers.create(req.image, **self._create_kwargs(req))
        try:
            container.start()
        except docker.errors.APIError as exc:
            self._remove(container)  # created but never started: nothing else would remove it
            if _NO_RUNTIME in str(exc):
                raise NoGpuError(
                    "the engine has no NVIDIA container runtime (DeviceRequest refused: "
                    f"{exc.explanation}); use gpu: devices or auto on this host"
                ) from exc
            raise
        except BaseException:  # Ctrl-C or SIGTERM while it starts: the caller never got it to remove
            self._remove(container)
            raise
        return container

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        """Run detached, follow the logs into `log_path`, wait with our own deadline, always remove."""
        started = time.monotonic()
        container: Any = None
        try:
            with _engine_errors(f"starting {request.image}"):
                container = self._create(request)
            output = _Output(time.monotonic(), request.limits.max_log_bytes)
            follower = threading.Thread(target=self._follow, args=(container, log_path, on_line, output), daemon=True)
            follower.start()
            exit_code, killed_for = self._wait(container, started + request.timeout_s, output, request)
            follower.join(timeout=10)
            if output.full:  # the run's evidence is incomplete: infra, never the commit's verdict
                raise RunInfraError(output.full)
            with _engine_errors("inspecting the test container"):
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
                self._remove(container)

    def _wait(self, container: Any, deadline: float, output: _Output, req: RunRequest) -> tuple[int | None, str]:
        """Exit code and "", or None and why harness killed it (deadline, silence, output)."""
        silence_s, cap = req.limits.silence_s, req.limits.max_output_bytes
        while True:
            now = time.monotonic()
            killed_for = "deadline" if now >= deadline else ""
            if silence_s and now - output.last >= silence_s:
                killed_for = "silence"
            if req.output_dir and cap and tree_bytes(Path(req.output_dir), cap) > cap:
                killed_for = "output"  # checked each poll (1 s): a size check, not a quota
            if killed_for:
                with _engine_errors("stopping the test container"), suppress(docker.errors.APIError):
                    container.kill()  # APIError: it exited meanwhile
                return None, killed_for
            try:
                status = container.wait(timeout=1)
                return int(status.get("StatusCode", -1)), ""
            except requests.exceptions.RequestException:
                with _engine_errors("waiting for the test container"):
                    self.client.ping()  # still there: it was only our poll timing out

    @staticmethod
    def _follow(container: Any, log_path: str, on_line: LineSink, output: _Output) -> None:
        pending = b""
        try:
            # Unbuffered: each chunk is written (and flushed) at once anyway, and a full disk must
            # not leave bytes in a buffer that `close` would fail to write again.
            log_file = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            if not is_full(exc):
                raise
            output.full = f"disk full creating the container log {log_path} ({exc.strerror}); nothing of it was kept"
            return
        with log_file as log:
            try:
                for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                    output.last = time.monotonic()
                    if output.written < output.cap and not output.full:
                        try:
                            log.write(chunk[: output.cap - output.written])
                            if output.written + len(chunk) >= output.cap:
                                log.write(f"\n[harness] log capped at {output.cap >> 20} MiB\n".encode())
                        except OSError as exc:  # a full disk: keep following (lines, silence), stop writing
                            if not is_full(exc):
                                raise
                            output.full = (
                                f"disk full writing the container log {log_path} ({exc.strerror}); "
                                f"it is kept up to about byte {output.written}; free space there, then run it again"
                            )
                        output.written += len(chunk)
                    pending = (pending + chunk)[-65536:]  # a line longer than this is cut, not buffered
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace"))
            except (requests.exceptions.RequestException, docker.errors.DockerException):
                return  # the container went away: what was written stays

    def _remove(self, container: Any) -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            # The engine is gone; its label lets `gc` reap the leftover later.
            pass

    # -- services (the production worker) ----------------------------------------------
    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        """Recreate the service container `<project>-<service>` from `image`; returns its id."""
        name = f"{project}-{spec.name}"
        with _engine_errors(f"replacing service {name}"):
            with suppress(docker.errors.NotFound):
                current = self.client.containers.get(name)
                self._refuse_foreign_service(name, dict(current.labels or {}))
                current.remove(force=True)
            kwargs: dict[str, Any] = {
                "command": list(spec.command) or None,
                "name": name,
                "detach": True,
                "environment": dict(spec.environment),
                "labels": self._labels({**dict(spec.labels), **labels}),
                "mounts": [
                    docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                    for m in spec.mounts
                ],
                "restart_policy": {"Name": spec.restart if spec.restart != "no" else ""},
                "log_config": _log_config(),
            }
            if spec.health is not None:
                ns = 1_000_000_000
                kwargs["healthcheck"] = docker.types.Healthcheck(
                    test=list(spec.health.test),
                    interval=int(spec.health.interval_s * ns),
                    timeout=int(spec.health.timeout_s * ns),
                    retries=spec.health.retries,
                    start_period=int(spec.health.start_period_s * ns),
                )
            if spec.gpu:
                kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
            try:
                container = self.client.containers.create(image, **kwargs)
                container.start()
            except docker.errors.APIError as exc:
                if _NO_RUNTIME in str(exc):
                    raise NoGpuError(
                        f"service {spec.name} reserves a GPU but the engine has no NVIDIA runtime; "
                        "deploy the worker-cpu service on this host"
                    ) from exc
                raise
            return str(container.id)

    def _refuse_foreign_service(self, name: str, labels: dict[str, str]) -> None:
        """Another state's service of the same name is not ours to replace."""
        other, mine = labels.get(STATE_LABEL, ""), self._owner.get(STATE_LABEL, "")
        if other and mine and other != mine:
            folder = labels.get(STATE_DIR_LABEL) or "unknown folder"
            raise UsageError(
                f"the service container {name} belongs to another harness state (folder {folder} / id {other}); "
                "give this state its own deploy.project in its harness.yaml"
            )

    def service_state(self, container_id: str) -> ServiceState:
        with _engine_errors("inspecting the service"):
            try:
                container = self.client.containers.get(container_id)
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

    def containers(self, *labels: str) -> list[ContainerInfo]:
        """Every container (running or not) that carries all `labels` (key or key=value)."""
        with _engine_errors("listing containers"):
            # ignore_removed: a build step's container may go between the listing and its inspection
            found = self.client.containers.list(all=True, filters={"label": list(labels)}, ignore_removed=True)
            return [_container_info(c) for c in found]

    def container(self, container_id: str) -> ContainerInfo | None:
        """One container by id (or a unique prefix of it), running or not; None if there is none."""
        # A list filter, not a get: the engine answers 404 to a build step's container by short id.
        with _engine_errors("listing containers"):
            found = self.client.containers.list(all=True, filters={"id": container_id}, ignore_removed=True)
        return next((_container_info(c) for c in found if str(c.id).startswith(container_id)), None)

    def remove_container(self, container_id: str) -> None:
        with _engine_errors("removing a container"), suppress(docker.errors.NotFound):
            self.client.containers.get(container_id).remove(force=True)

    def images(self, *labels: str) -> list[ImageInfo]:
        """Tagged images that carry all `labels`."""
        with _engine_errors("listing images"):
            return self._image_infos(filters={"label": list(labels)})

    def repo_images(self, repo: str) -> list[ImageInfo]:
        """Every image tagged in repository `repo` (any tag)."""
        with _engine_errors(f"listing the images of {repo}"):
            return self._image_infos(name=repo)

    def dangling(self, *labels: str) -> list[str]:
        """Untagged images (kept build stages) that carry all `labels`."""
        with _engine_errors("listing images"):
            ids = self.client.api.images(filters={"label": list(labels), "dangling": True}, quiet=True)
            return [str(i) for i in ids]

    def _image_infos(self, **query: Any) -> list[ImageInfo]:
        """docker-py's images.list inspects each image and fails on one removed meanwhile (a
        concurrent build's intermediate stage, another gc): those are skipped here."""
        found = []
        for row in self.client.api.images(**query):
            with suppress(docker.errors.NotFound):
                found.append(_image_info(self.client.images.get(row["Id"])))
        return found

    def remove_image(self, ref: str) -> bool:
        """Remove an image (by id or tag); False when the engine refuses (in use, has children)."""
        with _engine_errors(f"removing {ref}"):
            try:
                self.client.images.remove(ref, noprune=False)
            except docker.errors.ImageNotFound:
                return True
            except docker.errors.APIError:
                return False
        return True


def _container_info(container: Any) -> ContainerInfo:
    return ContainerInfo(
        id=str(container.id),
        name=str(container.name),
        status=str(container.status),
        # attrs, not container.image: that looks the image up, and a leftover's may be gone
        image_id=str(container.attrs.get("Image", "")),
        labels=dict(container.labels),
    )


def _image_info(image: Any) -> ImageInfo:
    return ImageInfo(
        id=str(image.id),
        tags=tuple(image.tags),
        labels=dict(image.labels or {}),
        created=str(image.attrs.get("Created", "")),
    )

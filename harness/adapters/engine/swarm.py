"""Test runs on a Docker Swarm: each run one `replicated-job` service of one task, placed by the
manager on a node with a free GPU (a generic resource), its outputs on the shared results path.

The ContainerRunner port, as the local Containers adapter: the image (built here) is pushed to
the fleet's registry and the task pulls it by digest; harness waits with its own deadline and
output cap, keeps the task's output in the run's log, and always removes the service. A task
Swarm could not run (rejected: no node has a free GPU or pulls the image) or lost with its node
is infra (RunInfraError, exit 125), never the commit's verdict; the node that ran it is said.
Swarm never starts a job's task again elsewhere, so harness does: a run whose node was lost (or
whose task was rejected or orphaned on a node) starts again on another node, up to
`fleet.reschedule` times, with the lost attempt's outputs set aside.
"""

from __future__ import annotations

import dataclasses
import os
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

from harness.adapters.engine.connection import Connection, engine_errors
from harness.adapters.engine.registry import push
from harness.adapters.run_files import tree_bytes
from harness.errors import RunInfraError
from harness.fleet import FleetJob, digest_ref, fleet_job
from harness.fleetconfig import FleetConfig
from harness.naming import SESSION_LABEL
from harness.ports import LineSink
from harness.runplan import ContainerExit, RunRequest

# Task states (Swarm's own words): finished ones, and those that mean no node runs it any more.
DONE = frozenset({"complete", "failed"})
LOST = frozenset({"rejected", "orphaned", "shutdown", "remove"})
# Of those, the ones where a node failed the task: worth another node. Shut down or removed means
# somebody stopped it (an interrupt's reaper removes the session's jobs): never started again.
NODE_FAILED = frozenset({"rejected", "orphaned"})


class NodeLost(RunInfraError):
    """The run's task stopped being run by any node (its node lost, the task rejected or
    orphaned) before it finished: infra, and the run may start again elsewhere."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(message)
        self.node = node  # the node's ID ("" when the task was placed on none)


def service_kwargs(job: FleetJob, labels: dict[str, str], *, avoid: tuple[str, ...] = ()) -> dict[str, Any]:
    """docker-py's services.create arguments for `job`: one task, never restarted by Swarm
    (harness decides what an infra failure means), confined as a local run, kept off the nodes
    in `avoid` (lost under an earlier attempt of the same run)."""
    mounts = [
        docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only) for m in job.mounts
    ]
    mounts += [
        docker.types.Mount(target=target, source="", type="tmpfs", tmpfs_size=_size(options))
        for target, options in job.tmpfs
    ]
    generic: dict[str, int | str] | None = {job.gpu_resource: job.gpus} if job.gpus else None
    return {
        "image": job.image,
        "args": list(job.command),
        "name": job.name,
        "labels": labels,
        "container_labels": labels,
        "env": [f"{k}={v}" for k, v in job.environment],
        "mounts": mounts,
        "user": job.user,
        "read_only": job.read_only_root,
        "cap_drop": ["ALL"],
        "mode": docker.types.ServiceMode("replicated-job", replicas=1, concurrency=1),
        "constraints": [f"node.id!={node}" for node in avoid if node],
        "restart_policy": docker.types.RestartPolicy(condition="none", max_attempts=0),
        "resources": docker.types.Resources(mem_limit=job.memory_bytes or None, generic_resources=generic),
        "log_driver": "json-file",
        "log_driver_options": {"max-size": "32m", "max-file": "2"},
    }


def _size(options: str) -> int | None:
    """tmpfs `size=8g,mode=1777` -> bytes (Swarm's tmpfs mount takes a number)."""
    for part in options.split(","):
        if part.startswith("size="):
            value = part[5:].lower()
            scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(value[-1:], 1)
            return int(value.rstrip("kmg")) * scale
    return None


@dataclass(frozen=True, kw_only=True)
class SwarmRunner:
    """The ContainerRunner port over a Swarm (see the module docstring)."""

    manager: Connection  # the manager's engine: services, tasks, nodes
    builder: Connection  # the engine that built the images: it pushes them
    fleet: FleetConfig
    repo: str
    shared: tuple[str, ...]  # paths every node has (results, model cache)
    memory_bytes: int = 0
    poll_s: float = 0.5

    def runtimes(self) -> set[str]:
        """ "nvidia" while the fleet has GPUs: the run plan then asks for one (the job reserves it
        as a generic resource and the node's NVIDIA runtime maps it), as `auto` does locally."""
        return {"nvidia"} if self.gpus() else set()

    def gpus(self) -> int:
        return fleet_gpus(self.manager, self.fleet.gpu_resource)

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        started = time.monotonic()
        digest = push(self.builder, request.image, registry=self.fleet.registry, repo=self.repo, tag=request.name)
        job = fleet_job(
            request,
            image=digest_ref(self.fleet.node_registry, self.repo, digest),
            gpu_resource=self.fleet.gpu_resource,
            shared=self.shared,
            memory_bytes=self.memory_bytes,
        )
        lost: list[str] = []  # the nodes lost under this run: the next attempt avoids them
        while True:
            attempt = job if not lost else dataclasses.replace(job, name=f"{job.name}-r{len(lost)}")
            try:
                task, killed_for = self._attempt(attempt, tuple(lost), request, log_path, on_line)
            except NodeLost as exc:
                if len(lost) >= self.fleet.reschedule:
                    raise
                lost.append(exc.node)
                again = f"starting it again on another node ({len(lost)} of {self.fleet.reschedule})"
                _note(log_path, on_line, f"[fleet] {exc}: {again}")
                _set_aside(request.output_dir, len(lost))
                continue
            node = str(task.get("NodeID", ""))
            return _exit(task, killed_for, time.monotonic() - started, digest, self._node_name(node) if node else "")

    def _attempt(
        self, job: FleetJob, avoid: tuple[str, ...], request: RunRequest, log_path: str, on_line: LineSink
    ) -> tuple[dict[str, Any], str]:
        """One Swarm job for the run, kept off the nodes in `avoid`; always removed after."""
        with engine_errors(f"creating the fleet job {job.name}"):
            kwargs = service_kwargs(job, self.manager.labels(dict(job.labels)), avoid=avoid)
            service = self.manager.client.services.create(**kwargs)  # type: ignore[no-untyped-call]
        try:
            done = self._wait(service, time.monotonic() + request.timeout_s, request, on_line)
            _keep_logs(service, log_path, on_line)
            return done
        finally:
            with suppress(docker.errors.DockerException):
                service.remove()

    def _wait(
        self, service: Any, deadline: float, request: RunRequest, on_line: LineSink
    ) -> tuple[dict[str, Any], str]:
        """The task once it is done (or harness stopped it: why), saying where it runs."""
        said = ""
        while True:
            task = _task(service)
            state = str(task.get("Status", {}).get("State", ""))
            node = str(task.get("NodeID", ""))
            if node and node != said:
                on_line(f"[fleet] task {str(task.get('ID', ''))[:12]} on node {self._node_name(node)}: {state}")
                said = node
            if state in DONE:
                return task, ""
            if node and state not in DONE and self._node_down(node):
                # Swarm does not start a job's task again elsewhere, and reports it running (the
                # last state the lost node sent) or rejected: harness decides, as infra.
                raise NodeLost(node, f"node {self._node_name(node)} was lost while it ran {request.name}")
            if state in LOST:
                err = task.get("Status", {}).get("Err") or state
                where = f"on node {self._node_name(node)}" if node else "placed on no node"
                why = f"the fleet task of {request.name} was {state} ({err}), {where}"
                raise NodeLost(node, why) if state in NODE_FAILED and node else RunInfraError(why)
            killed_for = _kill_reason(time.monotonic(), deadline, request)
            if killed_for:
                return task, killed_for
            time.sleep(self.poll_s)

    def _node_down(self, node_id: str) -> bool:
        with engine_errors("reading the fleet's nodes"):
            return str(self.manager.client.nodes.get(node_id).attrs["Status"]["State"]) == "down"

    def _node_name(self, node_id: str) -> str:
        with suppress(docker.errors.DockerException):
            return str(self.manager.client.nodes.get(node_id).attrs["Description"]["Hostname"])
        return node_id[:12]


def remove_session_jobs(manager: Connection, session: str) -> None:
    """Remove the fleet jobs of harness session `session` (an interrupt of parallel runs)."""
    with engine_errors("removing this session's fleet jobs"):
        services: list[Any] = manager.client.services.list(filters={"label": f"{SESSION_LABEL}={session}"})
        for service in services:
            with suppress(docker.errors.NotFound):
                service.remove()


def fleet_gpus(manager: Connection, kind: str) -> int:
    """The GPUs the fleet's ready, active nodes advertise (generic resources of `kind`)."""
    with engine_errors("reading the fleet's nodes"):
        nodes = manager.client.nodes.list()
    return sum(node_gpus(n.attrs, kind) for n in nodes)


def node_gpus(attrs: dict[str, Any], kind: str) -> int:
    """How many GPUs of `kind` a node offers runs: none unless it is ready and active."""
    if attrs.get("Status", {}).get("State") != "ready" or attrs.get("Spec", {}).get("Availability") != "active":
        return 0
    found = 0
    for spec in attrs.get("Description", {}).get("Resources", {}).get("GenericResources") or []:
        named, discrete = spec.get("NamedResourceSpec") or {}, spec.get("DiscreteResourceSpec") or {}
        if named.get("Kind") == kind:  # one GPU by its id (NVIDIA-GPU=GPU-xxxx)
            found += 1
        elif discrete.get("Kind") == kind:  # a count of them (NVIDIA-GPU=4)
            found += int(discrete.get("Value", 0))
    return found


def _task(service: Any) -> dict[str, Any]:
    """The job's task ({} until Swarm made it). A job removed meanwhile (an interrupt's reaper
    removes the session's jobs) is infra at once, not a wait to the deadline."""
    with engine_errors("reading the fleet task"):
        tasks = service.tasks()
        if not tasks:
            try:
                service.reload()
            except docker.errors.NotFound:
                raise RunInfraError(f"the fleet job {service.name} was removed before it ran") from None
    return dict(tasks[0]) if tasks else {}


def _kill_reason(now: float, deadline: float, request: RunRequest) -> str:
    cap = request.limits.max_output_bytes
    if now >= deadline:
        return "deadline"
    if request.output_dir and cap and tree_bytes(Path(request.output_dir), cap) > cap:
        return "output"
    return ""


def _note(log_path: str, on_line: LineSink, text: str) -> None:
    """A line of harness's own in the run's log, and to the reporter."""
    with open(log_path, "a") as log:
        log.write(text + "\n")
    on_line(text)


def _set_aside(output_dir: str, attempt: int) -> None:
    """The lost attempt's outputs moved aside, the output folder empty again for the next one: a
    task on a lost node may still be writing (a partitioned node, NFS), and what it wrote must not
    be judged. Its writes follow the renamed folder (the bind holds the folder, not the name)."""
    if not output_dir or not os.path.isdir(output_dir):
        return
    was = os.stat(output_dir)
    os.rename(output_dir, f"{output_dir}.lost-{attempt}")
    os.mkdir(output_dir)
    os.chmod(output_dir, was.st_mode & 0o7777)
    os.chown(output_dir, was.st_uid, was.st_gid)


def _keep_logs(service: Any, log_path: str, on_line: LineSink) -> None:
    """The task's output, once it is done, into the run's log and to the reporter line by line."""
    with suppress(docker.errors.DockerException), open(log_path, "ab") as log:
        for chunk in service.logs(stdout=True, stderr=True, follow=False):
            data = bytes(chunk)
            log.write(data)
            for line in data.decode(errors="replace").splitlines():
                on_line(line)


def _exit(task: dict[str, Any], killed_for: str, seconds: float, digest: str, node: str) -> ContainerExit:
    """The run's end; `node` is the node's hostname (what `docker node ls` and a maintainer say)."""
    status = task.get("Status", {}).get("ContainerStatus", {})
    code = None if killed_for else int(status.get("ExitCode", -1))
    return ContainerExit(
        exit_code=code,
        timed_out=killed_for == "deadline",
        oom_killed=False,  # Swarm's task status does not say; an OOM kill shows as exit 137
        seconds=seconds,
        killed_for=killed_for,
        node=node,
        image_digest=digest,
    )

"""A probe's test container as a Swarm job (pure): what the fleet runner asks the manager for.

A local run gets its GPU from this host (DeviceRequest or device nodes, see runplan.plan_gpu); a
job reserves `gpus` of the fleet's generic resource instead, and Swarm places it on a node that
has them (the node's NVIDIA runtime maps the reserved ids to the container, by
`DOCKER_RESOURCE_<KIND>`). The image is referenced by digest in the registry the nodes reach.
Bind mounts must name paths every node has: under the shared results path, or the model cache
(the same path on every node, like the results path; harness cannot see the nodes' disks, and a
task that finds nothing there fails its run, which the evidence then says).

Confinement is the local run's (SECURITY.md) where Swarm can express it: no capabilities, an
unprivileged user, a read-only root with tmpfs scratch, bounded processes and memory, no network.
Swarm's container spec has no `no-new-privileges` (engine API 1.41): with every capability dropped
and a non-root user there is nothing to gain, but it is one layer fewer than locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from harness.errors import UsageError
from harness.runplan import Mount, RunRequest


@dataclass(frozen=True, kw_only=True)
class FleetJob:
    name: str
    image: str  # <node registry>/<repo>@sha256:...
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]  # binds, each under a path every node has
    tmpfs: tuple[tuple[str, str], ...]  # (target, options) as the local run's
    gpu_resource: str
    gpus: int  # of gpu_resource, reserved (0: a CPU job)
    user: str
    read_only_root: bool
    pids: int
    memory_bytes: int  # 0: no limit
    timeout_s: float


def digest_ref(registry: str, repo: str, digest: str) -> str:
    """How nodes pull an image: by digest, never by a tag that may move meanwhile."""
    if not digest.startswith("sha256:"):
        raise ValueError(f"not a digest: {digest!r}")
    return f"{registry}/{repo}@{digest}"


def ref_digest(ref: str) -> str:
    """The digest a reference pins (`...@sha256:...`), "" for one that pins none (a tag)."""
    _, at, digest = ref.rpartition("@")
    return digest if at and digest.startswith("sha256:") else ""


def fleet_job(
    request: RunRequest,
    *,
    image: str,
    gpu_resource: str,
    shared: tuple[str, ...],
    memory_bytes: int,
) -> FleetJob:
    """`request` (planned for a local run) as a job on the fleet: its GPU plan replaced by a
    reservation (one GPU when the local plan had any), its image by `image` (a digest reference).
    `shared`: the folders every node has at the same path (results, model cache)."""
    outside = [m.source for m in request.mounts if not _under(m.source, shared)]
    if outside:
        raise UsageError(
            f"a fleet run mounts {', '.join(outside)}, outside the paths every node has "
            f"({', '.join(shared) or 'none'}): put the state's runs under fleet.results"
        )
    return FleetJob(
        name=request.name,
        image=image,
        command=request.command,
        environment=request.environment,
        labels=request.labels,
        mounts=request.mounts,
        tmpfs=request.limits.tmpfs,
        gpu_resource=gpu_resource,
        gpus=1 if request.gpu.mode != "none" else 0,
        user=request.limits.user,
        read_only_root=request.limits.read_only_root,
        pids=request.limits.pids,
        memory_bytes=memory_bytes,
        timeout_s=request.timeout_s,
    )


def _under(path: str, roots: tuple[str, ...]) -> bool:
    p = PurePosixPath(path)
    return any(p == PurePosixPath(r) or PurePosixPath(r) in p.parents for r in roots)

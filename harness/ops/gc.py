"""gc: apply the retention plan (or only show it with --dry-run)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Protocol

from harness.naming import LAST_GOOD
from harness.retention import GcPlan, plan_gc
from harness.services import ContainerInfo, ImageInfo
from harness.store import Store


class GcEngine(Protocol):
    def images(self, label: str) -> list[ImageInfo]: ...
    def dangling(self, label: str) -> list[str]: ...
    def containers(self, label: str) -> list[ContainerInfo]: ...
    def remove_image(self, ref: str) -> bool: ...
    def remove_container(self, container_id: str) -> None: ...


def session_id() -> str:
    """Label of this process's containers: host and pid, so a later gc can tell if it is dead."""
    return f"{socket.gethostname()}:{os.getpid()}"


def session_alive(session: str) -> bool:
    host, _, pid = session.rpartition(":")
    if host != socket.gethostname() or not pid.split("-")[0].isdigit():
        return host != socket.gethostname() and bool(host)  # another host's session: not ours to judge
    try:
        os.kill(int(pid.split("-")[0]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gc(
    engine: GcEngine, store: Store, *, repo: str, keep: int, dry_run: bool, state_dir: Path
) -> tuple[GcPlan, list[str]]:
    """Returns the plan and what could not be removed (with why)."""
    commit_images = [i for i in engine.images("harness.stage=commit") if any(t.startswith(f"{repo}:") for t in i.tags)]
    containers = engine.containers("harness.commit") + engine.containers("harness.service")
    last_good = store.pointer(LAST_GOOD)
    plan = plan_gc(
        commit_images=commit_images,
        releases=store.releases(),
        last_good=last_good.image_id if last_good else None,
        containers=containers,
        runs=store.runs(limit=1_000_000),
        keep=keep,
        session_alive=session_alive,
        dangling=engine.dangling("harness.purpose=build-stage"),
    )
    problems: list[str] = []
    if dry_run:
        return plan, problems
    for container in plan.remove_containers:
        engine.remove_container(container.id)
    for image in plan.remove_images:
        for tag in image.tags:
            if not engine.remove_image(tag):
                problems.append(f"{tag}: the engine refused (in use or has children)")
    for image_id in plan.remove_dangling:
        engine.remove_image(image_id)
    runs_root = (state_dir / "runs").resolve()
    for run_dir in plan.remove_run_dirs:
        path = Path(run_dir).resolve()
        if path.is_relative_to(runs_root):  # never outside the state folder, whatever the store says
            shutil.rmtree(path, ignore_errors=True)
    return plan, problems

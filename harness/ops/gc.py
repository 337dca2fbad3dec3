"""gc: apply the retention plan (or only show it with --dry-run)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from harness.naming import LAST_GOOD, STATE_LABEL
from harness.retention import GcPlan, plan_gc
from harness.services import ContainerInfo, ImageInfo
from harness.session import session_alive, session_id
from harness.store import Store

__all__ = ["GcEngine", "gc", "session_alive", "session_id"]


class GcEngine(Protocol):
    def images(self, *labels: str) -> list[ImageInfo]: ...
    def dangling(self, *labels: str) -> list[str]: ...
    def containers(self, *labels: str) -> list[ContainerInfo]: ...
    def remove_image(self, ref: str) -> bool: ...
    def remove_container(self, container_id: str) -> None: ...
    def repo_images(self, repo: str) -> list[ImageInfo]: ...


def gc(
    engine: GcEngine, store: Store, *, repo: str, keep: int, dry_run: bool, state_dir: Path
) -> tuple[GcPlan, list[str]]:
    """Returns the plan and what could not be removed (with why).

    Only images and containers labelled with this store's state id are looked at: another
    state's on the same engine are neither listed nor removed (ops/isolation.py).
    """
    mine = f"{STATE_LABEL}={store.state_id()}"
    problems = _unowned(engine, repo)
    commit_images = engine.images(mine, "harness.stage=commit")
    containers = engine.containers(mine)
    last_good = store.pointer(LAST_GOOD)
    plan = plan_gc(
        commit_images=commit_images,
        releases=store.releases(),
        last_good=last_good.image_id if last_good else None,
        containers=containers,
        runs=store.runs(limit=1_000_000),
        keep=keep,
        session_alive=session_alive,
        dangling=engine.dangling(mine, "harness.purpose=build-stage"),
    )
    if dry_run:
        return plan, problems
    for container in plan.remove_containers:
        engine.remove_container(container.id)
    for image in plan.remove_images:
        # Only the commit tags go: a tag someone else put on the image (another state promoting
        # it by name) stays, and so does the image under it.
        short = image.labels.get("harness.commit", "")[:12]
        for tag in image.tags:
            if not short or not tag.endswith(f":{short}"):
                problems.append(f"{tag}: not a commit tag of this state; the image stays under it")
            elif not engine.remove_image(tag):
                problems.append(f"{tag}: the engine refused (in use or has children)")
    for image_id in plan.remove_dangling:
        engine.remove_image(image_id)
    runs_root = (state_dir / "runs").resolve()
    for run_dir in plan.remove_run_dirs:
        path = Path(run_dir).resolve()
        if path.is_relative_to(runs_root):  # never outside the state folder, whatever the store says
            shutil.rmtree(path, ignore_errors=True)
    return plan, problems


def _unowned(engine: GcEngine, repo: str) -> list[str]:
    """Images of `repo` made before harness labelled states: no state's gc will take them."""
    images = [i for i in engine.repo_images(repo) if STATE_LABEL not in i.labels]
    if not images:
        return []
    tags = ", ".join(sorted(t for i in images for t in i.tags if t.startswith(f"{repo}:")))
    return [
        f"{len(images)} images of {repo} carry no state label (built before harness recorded states), "
        f"so gc leaves them: {tags}; remove by hand those no harness folder uses (docker rmi)"
    ]

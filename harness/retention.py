"""What `gc` may remove (pure): commit images and run folders beyond the policy, leftovers.

Never removed: the production image, the last-good image, the images of the last N
releases, images any container uses, and the N newest commit images. Production service
containers (label harness.service) are never leftovers. What it is given is already narrowed
to one harness state (ops/gc.py): it never sees another state's images or containers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.model import RunRecord
from harness.naming import SESSION_LABEL
from harness.promotion import Release
from harness.services import ContainerInfo, ImageInfo


@dataclass(frozen=True, kw_only=True)
class GcPlan:
    remove_images: tuple[ImageInfo, ...]
    keep_images: tuple[tuple[ImageInfo, str], ...]  # (image, why kept)
    remove_run_dirs: tuple[str, ...]
    remove_containers: tuple[ContainerInfo, ...]
    remove_dangling: tuple[str, ...]


def plan_gc(
    *,
    commit_images: list[ImageInfo],
    releases: list[Release],
    last_good: str | None,
    containers: list[ContainerInfo],
    runs: list[RunRecord],
    keep: int,
    session_alive: Callable[[str], bool],
    dangling: list[str],
) -> GcPlan:
    why: dict[str, str] = {}
    if releases:
        why[releases[-1].image_id] = f"production (revision {releases[-1].revision})"
    if last_good:
        why.setdefault(last_good, "last-good")
    for release in releases[-keep:]:
        why.setdefault(release.image_id, f"release revision {release.revision}")
    for container in containers:
        why.setdefault(container.image_id, f"used by container {container.name}")
    for image in sorted(commit_images, key=lambda i: i.created, reverse=True)[:keep]:
        why.setdefault(image.id, f"among the {keep} newest commit images")
    keep_images = tuple((i, why[i.id]) for i in commit_images if i.id in why)
    remove_images = tuple(i for i in commit_images if i.id not in why)
    removed = {i.id for i in remove_images}
    newest_runs = {r.run_id for r in runs[: keep * 10]}
    run_dirs = tuple(
        r.run_dir for r in runs if r.run_id not in newest_runs and (not r.image_id or r.image_id in removed)
    )
    # Any container harness made (test, smoke, weights, inspection) carries its process's
    # session; one whose process is gone is a leftover. No session label: not harness's to judge.
    # A deployed service outlives the process that deployed it: never a leftover.
    leftovers = tuple(
        c
        for c in containers
        if "harness.service" not in c.labels
        and "harness.release" not in c.labels
        and c.labels.get(SESSION_LABEL)
        and not session_alive(c.labels[SESSION_LABEL])
    )
    return GcPlan(
        remove_images=remove_images,
        keep_images=keep_images,
        remove_run_dirs=run_dirs,
        remove_containers=leftovers,
        remove_dangling=tuple(dangling),
    )

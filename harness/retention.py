"""What `gc` may remove (pure): commit images and run folders beyond the policy, leftovers.

Never removed: the production image, the last-good image, the images of the last N
releases, images any container uses, and the N newest commit images. Production service
containers (label harness.service) are never leftovers. What it is given is already narrowed
to one harness state (ops/gc.py): it never sees another state's images or containers.

An untagged commit image is a duplicate whose tag a later build of the same commit took
(concurrent builds, --rebuild). It takes none of the N newest slots (the tag's image has the
commit's slot); it stays while protected as above or while it is the image of its commit's
newest run (what `promote <sha>` and `diff` pick), and goes otherwise, its records kept.
Build-step containers go once the build that journaled them is over: its session dead, or the
build ended without the engine removing them (buildsteps.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.model import Release, RunRecord
from harness.naming import SESSION_LABEL
from harness.services import ContainerInfo, ImageInfo


@dataclass(frozen=True, kw_only=True)
class GcPlan:
    remove_images: tuple[ImageInfo, ...]
    keep_images: tuple[tuple[ImageInfo, str], ...]  # (image, why kept)
    remove_run_dirs: tuple[str, ...]
    remove_containers: tuple[ContainerInfo, ...]
    remove_dangling: tuple[str, ...]
    remove_step_containers: tuple[ContainerInfo, ...] = ()
    keep_step_containers: tuple[tuple[ContainerInfo, str], ...] = ()
    remove_journals: tuple[str, ...] = ()  # build journals whose session is dead
    busy: str = ""  # why untagged images stay this time: a build of this state is in progress


@dataclass(frozen=True, kw_only=True)
class BuildSteps:
    """One build's journal (buildsteps.py): its session and the step containers still there."""

    journal: str
    session: str
    containers: tuple[ContainerInfo, ...]
    ended: bool = False  # the build is over although its process may live on


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
    builds: tuple[BuildSteps, ...] = (),
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
    tagged = [i for i in commit_images if i.tags]
    for image in sorted(tagged, key=lambda i: i.created, reverse=True)[:keep]:
        why.setdefault(image.id, f"among the {keep} newest commit images")
    newest: dict[str, RunRecord] = {}
    for run in runs:  # newest first
        if run.image_id:
            newest.setdefault(run.commit, run)
    for run in newest.values():
        if run.image_id not in {i.id for i in tagged}:
            why.setdefault(run.image_id, f"named by run {run.run_id}, the newest of commit {run.commit[:12]}")
    dead = [b for b in builds if b.ended or not session_alive(b.session)]
    live = [b for b in builds if b not in dead]
    # A build in progress has untagged images of its own (each step's, the one it is about to
    # tag): while one runs, no untagged image goes.
    busy = f"a build of this state is in progress (session {live[0].session})" if live else ""
    for image in commit_images if busy else ():
        if not image.tags:
            why.setdefault(image.id, busy)
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
        remove_dangling=() if busy else tuple(dangling),
        remove_step_containers=tuple(c for b in dead for c in b.containers),
        keep_step_containers=tuple(
            (c, f"its build is in progress (session {b.session})") for b in live for c in b.containers
        ),
        remove_journals=tuple(b.journal for b in dead),
        busy=busy,
    )

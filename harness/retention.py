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
    why = _protected(commit_images, releases, last_good, containers, keep)
    tagged = {i.id for i in commit_images if i.tags}
    for run in _newest_per_commit(runs, besides=tagged):
        why.setdefault(run.image_id, f"named by run {run.run_id}, the newest of commit {run.commit[:12]}")
    dead, live, busy = _split_builds(builds, session_alive)
    for image in _untagged(commit_images) if busy else ():
        why.setdefault(image.id, busy)
    remove_images = tuple(i for i in commit_images if i.id not in why)
    return GcPlan(
        remove_images=remove_images,
        keep_images=tuple((i, why[i.id]) for i in commit_images if i.id in why),
        remove_run_dirs=_run_dirs(runs, keep, {i.id for i in remove_images}),
        remove_containers=_leftovers(containers, session_alive),
        remove_dangling=() if busy else tuple(dangling),
        remove_step_containers=tuple(c for b in dead for c in b.containers),
        keep_step_containers=tuple(
            (c, f"its build is in progress (session {b.session})") for b in live for c in b.containers
        ),
        remove_journals=tuple(b.journal for b in dead),
        busy=busy,
    )


def _protected(
    commit_images: list[ImageInfo],
    releases: list[Release],
    last_good: str | None,
    containers: list[ContainerInfo],
    keep: int,
) -> dict[str, str]:
    """Image id -> why it stays; the first reason given is the one said (the strongest first)."""
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
    return why


def _newest_per_commit(runs: list[RunRecord], *, besides: set[str]) -> list[RunRecord]:
    """The newest run with an image of each commit (in wrapper mode, of each pair of commits;
    `runs` come newest first), whose image is not among `besides` (the tagged images: those
    keep their commit's slot already)."""
    newest: dict[tuple[str, str], RunRecord] = {}
    for run in runs:
        if run.image_id:
            newest.setdefault((run.commit, run.wrapper), run)
    return [run for run in newest.values() if run.image_id not in besides]


def _split_builds(
    builds: tuple[BuildSteps, ...], session_alive: Callable[[str], bool]
) -> tuple[list[BuildSteps], list[BuildSteps], str]:
    """Builds that are over, builds in progress, and while any is: why untagged images stay.

    A build in progress has untagged images of its own (each step's, the one it is about to
    tag): while one runs, no untagged image goes."""
    dead = [b for b in builds if b.ended or not session_alive(b.session)]
    live = [b for b in builds if b not in dead]
    busy = f"a build of this state is in progress (session {live[0].session})" if live else ""
    return dead, live, busy


def _untagged(images: list[ImageInfo]) -> list[ImageInfo]:
    return [i for i in images if not i.tags]


def _run_dirs(runs: list[RunRecord], keep: int, removed: set[str]) -> tuple[str, ...]:
    """Run folders beyond the newest keep*10 runs whose image goes (or that had none)."""
    newest_runs = {r.run_id for r in runs[: keep * 10]}
    return tuple(r.run_dir for r in runs if r.run_id not in newest_runs and (not r.image_id or r.image_id in removed))


def _leftovers(containers: list[ContainerInfo], session_alive: Callable[[str], bool]) -> tuple[ContainerInfo, ...]:
    # Any container harness made (test, smoke, weights, inspection) carries its process's
    # session; one whose process is gone is a leftover. No session label: not harness's to judge.
    # A deployed service outlives the process that deployed it: never a leftover.
    return tuple(
        c
        for c in containers
        if "harness.service" not in c.labels
        and "harness.release" not in c.labels
        and c.labels.get(SESSION_LABEL)
        and not session_alive(c.labels[SESSION_LABEL])
    )

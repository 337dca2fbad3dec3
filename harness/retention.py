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

Deps images: a tagged one stays (the cache later builds reuse, and start their deltas from); an
untagged one (a later build took its tag) goes unless an image built FROM it stays: a commit
image naming it in harness.deps-key, or a deps image naming it in harness.deps-base (a delta built
FROM it, issue 18), transitively along the chain. A delta chain's images go together in one gc,
children first: the engine refuses to remove an image that has children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from harness.context import KEY_LABEL
from harness.lock import BASE_LABEL
from harness.model import Release, RunRecord
from harness.naming import SESSION_LABEL
from harness.services import ContainerInfo, ImageInfo

# The harness.key of the deps image a delta deps image was built FROM; "" or absent: built from
# the env image (an older deps image carries none). The deps build writes it (harness/lock.py).
DEPS_BASE_LABEL = BASE_LABEL  # lock.py: the deps key a delta was built FROM
DEPS_KEY_LABEL = "harness.deps-key"  # on a commit image: the deps image it was built FROM


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
    remove_deps: tuple[ImageInfo, ...] = ()  # untagged deps images, each before the base it was built FROM
    keep_deps: tuple[tuple[ImageInfo, str], ...] = ()  # untagged deps images that stay, and why


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
    deps_images: Sequence[ImageInfo] = (),
) -> GcPlan:
    why = _protected(commit_images, releases, last_good, containers, keep)
    tagged = {i.id for i in commit_images if i.tags}
    for run in _newest_per_commit(runs, besides=tagged):
        why.setdefault(run.image_id, f"named by run {run.run_id}, the newest of commit {run.commit[:12]}")
    dead, live, busy = _split_builds(builds, session_alive)
    for image in _untagged(commit_images) if busy else ():
        why.setdefault(image.id, busy)
    remove_images = tuple(i for i in commit_images if i.id not in why)
    staying = [i for i in commit_images if i.id in why]
    remove_deps, keep_deps = plan_deps(deps_images, commit_images=staying, containers=containers, busy=busy)
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
        remove_deps=remove_deps,
        keep_deps=keep_deps,
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


def plan_deps(
    images: Sequence[ImageInfo], *, commit_images: Sequence[ImageInfo], containers: Sequence[ContainerInfo], busy: str
) -> tuple[tuple[ImageInfo, ...], tuple[tuple[ImageInfo, str], ...]]:
    """Which untagged deps images go (children before their bases) and which stay, and why.

    `images` are this state's deps images, `commit_images` the commit images that stay. What
    stays keeps the chain below it: a deps image that stays keeps its base, and so on down."""
    named = _named(images)
    why: dict[str, str] = {}
    for container in containers:
        why.setdefault(container.image_id, f"used by container {container.name}")
    for commit in commit_images:
        for image in named.get(commit.labels.get(DEPS_KEY_LABEL, ""), ()):
            why.setdefault(image.id, f"deps of commit image {_name(commit)}")
    for child, base in _chain([i for i in images if i.tags or i.id in why], named):
        why.setdefault(base.id, f"base of deps {child.labels.get(KEY_LABEL, '')[:12]} (delta chain)")
    untagged = _untagged(list(images))
    for image in untagged if busy else ():
        why.setdefault(image.id, busy)
    by_key = _by_key(images)
    going = sorted((i for i in untagged if i.id not in why), key=lambda i: _depth(i, by_key), reverse=True)
    return tuple(going), tuple((i, why[i.id]) for i in untagged if i.id in why)


def _by_key(images: Sequence[ImageInfo]) -> dict[str, list[ImageInfo]]:
    by_key: dict[str, list[ImageInfo]] = {}
    for image in images:
        if key := image.labels.get(KEY_LABEL, ""):
            by_key.setdefault(key, []).append(image)
    return by_key


def _named(images: Sequence[ImageInfo]) -> dict[str, list[ImageInfo]]:
    """Key -> the images a label naming that key keeps: its tagged images, or all when none is.

    A key may have several images: an untagged duplicate is the one a --no-cache rebuild took the
    tag from. A label cannot say which of them a child was built FROM; an engine that records
    parents does not list an untagged image with children at all, and the tagged one stays anyway.
    So the duplicate goes as before, and an untagged base whose key has no tagged image stays."""
    return {key: [i for i in found if i.tags] or found for key, found in _by_key(images).items()}


def _chain(roots: list[ImageInfo], named: dict[str, list[ImageInfo]]) -> Iterator[tuple[ImageInfo, ImageInfo]]:
    """(child, base) for each deps image below `roots` in their delta chains, nearest first.

    A label naming a key no listed image carries keeps nothing (that base is gone, or hidden by
    the engine as an image with children); a label naming its own image's key or a loop ends."""
    seen = {i.id for i in roots}
    todo = list(roots)
    while todo:
        child = todo.pop(0)
        for base in named.get(child.labels.get(DEPS_BASE_LABEL, ""), ()):
            if base.id not in seen:
                seen.add(base.id)
                todo.append(base)
                yield child, base


def _depth(image: ImageInfo, by_key: dict[str, list[ImageInfo]], below: frozenset[str] = frozenset()) -> int:
    """How many deps images lie under `image` in its delta chain (its base, the base's base...)."""
    below = below | {image.id}
    bases = [b for b in by_key.get(image.labels.get(DEPS_BASE_LABEL, ""), ()) if b.id not in below]
    return max((1 + _depth(b, by_key, below) for b in bases), default=0)


def _name(image: ImageInfo) -> str:
    return ", ".join(image.tags) if image.tags else f"{image.id[7:19]} (untagged)"


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

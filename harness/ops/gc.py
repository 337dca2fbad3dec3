"""gc: apply the retention plan (or only show it with --dry-run)."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.buildsteps import read_journals
from harness.context import KEY_LABEL
from harness.naming import LAST_GOOD, SESSION_LABEL, STATE_LABEL, WRAPPER_LABEL
from harness.ports import GcEngine, StateStore
from harness.retention import BuildSteps, GcPlan, plan_gc
from harness.services import ContainerInfo, ImageInfo
from harness.session import session_alive, session_id

__all__ = ["gc", "session_alive", "session_id"]


def gc(
    engine: GcEngine,
    store: StateStore,
    *,
    repo: str,
    keep: int,
    dry_run: bool,
    state_dir: Path,
    runs_dir: Path | None = None,
) -> tuple[GcPlan, list[str]]:
    """Returns the plan and what could not be removed (with why).

    Only images and containers labelled with this store's state id are looked at: another
    state's on the same engine are neither listed nor removed (ops/isolation.py).
    """
    state = store.state_id()
    mine = f"{STATE_LABEL}={state}"
    problems = _unowned(engine, repo)
    commit_images = engine.images(mine, "harness.stage=commit")
    containers = engine.containers(mine)
    last_good = store.pointer(LAST_GOOD)
    builds = _builds(engine, state_dir, state)
    problems += _unjournaled(containers, builds)
    plan = plan_gc(
        commit_images=commit_images,
        releases=store.releases(),
        last_good=last_good.image_id if last_good else None,
        containers=containers,
        runs=store.runs(limit=1_000_000),
        keep=keep,
        session_alive=session_alive,
        dangling=_dangling(engine, mine),
        builds=builds,
        deps_images=engine.images(mine, "harness.stage=deps"),
    )
    if dry_run:
        return plan, problems
    return plan, problems + _apply(engine, plan, state_dir, runs_dir or state_dir / "runs")


def _apply(engine: GcEngine, plan: GcPlan, state_dir: Path, runs_dir: Path) -> list[str]:
    """Remove what `plan` says, in an order a failure midway leaves consistent; what could not go."""
    for container in (*plan.remove_containers, *plan.remove_step_containers):
        engine.remove_container(container.id)
    builds_root = (state_dir / "builds").resolve()
    for journal in plan.remove_journals:  # after their containers: a failure above keeps them
        if Path(journal).resolve().is_relative_to(builds_root):
            Path(journal).unlink(missing_ok=True)
    problems = [problem for image in plan.remove_images for problem in _remove_image(engine, image)]
    # After the commit images built FROM them, and each delta before its base (the plan's order):
    # the engine refuses an image with children. A refusal is said; the next gc tries again.
    problems += [
        f"untagged deps image {image.id[7:19]} (deps {image.labels.get(KEY_LABEL, '')[:12]}): "
        "the engine refused (in use or has children); the next gc tries again"
        for image in plan.remove_deps
        if not engine.remove_image(image.id)
    ]
    for image_id in plan.remove_dangling:
        engine.remove_image(image_id)
    runs_root = runs_dir.resolve()
    for run_dir in plan.remove_run_dirs:
        path = Path(run_dir).resolve()
        if path.is_relative_to(runs_root):  # never outside the state folder, whatever the store says
            shutil.rmtree(path, ignore_errors=True)
    return problems


def _remove_image(engine: GcEngine, image: ImageInfo) -> list[str]:
    """Remove a commit image by its commit tags; what stays, and why."""
    if not image.tags:  # a duplicate whose tag a later build of its commit took
        if engine.remove_image(image.id):
            return []
        return [f"untagged image {image.id[7:19]}: the engine refused (in use or has children)"]
    # Only the commit tags go: a tag someone else put on the image (another state promoting
    # it by name) stays, and so does the image under it.
    short = image.labels.get("harness.commit", "")[:12]
    if short and (wrapper := image.labels.get(WRAPPER_LABEL, "")):
        short = f"{short}-{wrapper[:12]}"  # wrapper mode's pair tag (naming.pair_tag)
    problems = []
    for tag in image.tags:
        if not short or not tag.endswith(f":{short}"):
            problems.append(f"{tag}: not a commit tag of this state; the image stays under it")
        elif not engine.remove_image(tag):
            problems.append(f"{tag}: the engine refused (in use or has children)")
    return problems


def _dangling(engine: GcEngine, mine: str) -> list[str]:
    """Untagged images of this state that nothing builds on: the env build's kept install stage,
    and env images whose tag a later (--no-cache) build took. Untagged deps images are the plan's
    (retention.plan_deps): a delta chain decides which go."""
    found = (engine.dangling(mine, label) for label in ("harness.purpose=build-stage", "harness.stage=env"))
    return list(dict.fromkeys(i for ids in found for i in ids))


def _builds(engine: GcEngine, state_dir: Path, state: str) -> tuple[BuildSteps, ...]:
    """This state's build journals, each with the step containers of it still on the engine.

    A journal names containers by the ids the engine printed; one that carries another state's
    label, or a session of its own (made by harness, reaped by its session), is not a step here.
    """
    builds = []
    for journal in read_journals(state_dir):
        found = (engine.container(i) for i in journal.containers)
        steps = tuple(
            c
            for c in found
            if c is not None and c.labels.get(STATE_LABEL, state) == state and not c.labels.get(SESSION_LABEL)
        )
        builds.append(BuildSteps(journal=journal.path, session=journal.session, containers=steps, ended=journal.ended))
    return tuple(builds)


def _unjournaled(containers: list[ContainerInfo], builds: tuple[BuildSteps, ...]) -> list[str]:
    """Containers with this state's build-image labels that no journal names: said, never removed.

    A build step from before harness journaled them looks so, and so does a container someone
    started by hand from an env or deps image: only a person can tell which.
    """
    journaled = {c.id for b in builds for c in b.containers}
    return [
        f"container {c.id[:12]} ({c.status}) carries this state's build labels but no build journal names it "
        "(a build step of an older harness, or a container started by hand from an env or deps image); "
        f"if no build of this state is running, remove it: docker rm -f {c.id[:12]}"
        for c in containers
        if c.id not in journaled
        and not c.labels.get(SESSION_LABEL)
        and (c.labels.get("harness.stage") in ("env", "deps") or c.labels.get("harness.purpose") == "build-stage")
    ]


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

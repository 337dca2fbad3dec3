"""Build the image of one upstream commit: env -> deps -> commit, reusing by content key."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from harness.buildsteps import journal
from harness.config import Config
from harness.context import (
    KEY_LABEL,
    DepsSpec,
    HostFiles,
    HostInputs,
    WrapperTree,
    plan_commit,
    plan_deps,
    plan_env,
    wrapper_context_tree,
)
from harness.errors import BuildFailed, BuildInfraError
from harness.evaluate import infra_trouble
from harness.model import BuildResult, BuildSpec, Commit
from harness.ops.deps import DepsSettings, ensure_deps
from harness.ops.isolation import check_repo
from harness.plan import RUNNER_DIR, BuildPlan, WrapperPlan, host_files
from harness.ports import ImageBuilder, Reporter, Upstream
from harness.recipe import FilterReport, Recipe, filter_requirements
from harness.session import session_id
from harness.tarball import TreeEntry, write_context

__all__ = ["RUNNER_DIR", "BuiltImage", "build_commit_image", "ensure_image", "host_inputs"]
FREEZE_PATH = "/opt/harness/pip-freeze.txt"


@dataclass(frozen=True, kw_only=True)
class WrapperSource:
    """Wrapper mode: the wrapper's repository and the commit of it the image holds."""

    repo: Upstream
    commit: Commit


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    commit: Commit
    tag: str
    image_id: str
    deps_key: str
    stages: tuple[BuildResult, ...]
    filters: FilterReport
    skipped_files: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


def engine_inputs(files: HostFiles, recipe: Recipe, builder: ImageBuilder, state: str) -> HostInputs:
    """The plan's host files with what only the engine tells: the base image's id and digest."""
    base_id = builder.image_id(recipe.base)
    if base_id is None:
        raise BuildInfraError(
            f"base image {recipe.base!r} (from {recipe.folder}/recipe.yaml) is not on this engine: "
            "pull it, or run scripts/setup-host.sh to bootstrap the local Debian base"
        )
    return HostInputs(
        base_image_id=base_id,
        base_digest=builder.repo_digest(recipe.base),
        ca_bundle=files.ca_bundle,
        wheelhouse=files.wheelhouse,
        wheelhouse_digest=files.wheelhouse_digest,
        pip_options=files.pip_options,
        dockerfiles=dict(files.dockerfiles),
        runner_files=files.runner_files,
        state=state,
        state_dir=files.state_dir,
        uv_binary=files.uv_binary,
        uv_digest=files.uv_digest,
    )


def host_inputs(cfg: Config, recipe: Recipe, builder: ImageBuilder, state: str) -> HostInputs:
    """`engine_inputs` straight from the config (`weights pull` builds an env image alone)."""
    return engine_inputs(host_files(cfg), recipe, builder, state)


def ensure_image(
    builder: ImageBuilder,
    spec: BuildSpec,
    reporter: Reporter,
    *,
    timeout_s: float,
    tree: Iterable[TreeEntry] = (),
    rebuild: bool = False,
    retries: int = 0,
    backoff_s: float = 10.0,
    state_dir: Path | None = None,
) -> BuildResult:
    """Build `spec` unless an image with its content key is already tagged.

    `rebuild` builds anyway and bypasses the engine's layer cache: a truly fresh image.
    `state_dir`: where the build journals its step containers for `gc` (buildsteps.py).
    """
    started = time.monotonic()
    # The id first, then that image's labels: the tag may move meanwhile (a concurrent build of
    # the same commit), and the run must test and record the very image whose key it checked.
    image_id = builder.image_id(spec.tag) or ""
    if not rebuild and image_id and builder.image_labels(image_id).get(KEY_LABEL) == spec.key:
        reporter.step(f"{spec.stage} image {spec.tag} reused ({image_id[7:19]})")
        return BuildResult(image_id=image_id, tag=spec.tag, reused=True, seconds=time.monotonic() - started)
    reporter.step(f"building {spec.stage} image {spec.tag}")
    with tempfile.TemporaryFile(prefix="harness-context-") as context:
        write_context(spec, context, tree)
        for attempt in range(retries + 1):
            context.seek(0)
            try:
                image_id = _build(
                    builder, spec, context, reporter, timeout_s=timeout_s, nocache=rebuild, state_dir=state_dir
                )
                break
            except BuildFailed as exc:
                # Network trouble (pip's own retries spent) gets bounded retries with backoff;
                # any other failure (the commit's requirements, the recipe) is final at once.
                if attempt == retries or not infra_trouble(exc.log_tail):
                    raise
                wait = backoff_s * 3**attempt
                reporter.step(f"{spec.stage} build hit infra trouble; retry {attempt + 1} of {retries} in {wait:.0f} s")
                time.sleep(wait)
    seconds = time.monotonic() - started
    reporter.step(f"{spec.stage} image {spec.tag} built in {seconds:.1f} s ({image_id[7:19]})")
    return BuildResult(image_id=image_id, tag=spec.tag, reused=False, seconds=seconds)


def _build(
    builder: ImageBuilder,
    spec: BuildSpec,
    context: BinaryIO,
    reporter: Reporter,
    *,
    timeout_s: float,
    nocache: bool,
    state_dir: Path | None,
) -> str:
    """One build; the id the engine reports for it, never the tag's (another build may own it now)."""
    if state_dir is None:
        return builder.build(spec, context, timeout_s=timeout_s, on_line=reporter.line, nocache=nocache)
    with journal(state_dir, session_id()) as note:

        def on_line(line: str) -> None:
            note(line)  # first: once a step is shown, gc can find its container
            reporter.line(line)

        return builder.build(spec, context, timeout_s=timeout_s, on_line=on_line, nocache=nocache)


def _pip_freeze(builder: ImageBuilder, deps: BuildResult, cache: Path) -> str:
    """The deps image's pip freeze, read once per deps image (reading costs a container)."""
    path = cache / f"pip-freeze-{deps.image_id.removeprefix('sha256:')[:24]}.txt"
    if path.is_file():
        return path.read_text()
    freeze = builder.read_file(deps.tag, FREEZE_PATH)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(freeze)
    return freeze


def build_commit_image(
    plan: BuildPlan,
    commit: Commit,
    *,
    upstream: Upstream,
    builder: ImageBuilder,
    reporter: Reporter,
    created: str,
    state: str,
    rebuild: bool = False,
    no_cache: bool = False,
    wrapper: WrapperSource | None = None,
) -> BuiltImage:
    """Build (or reuse) env, deps and commit images, labelled as the harness state `state`'s.
    `rebuild` redoes the commit image; `no_cache` redoes all three without the engine's layer cache.
    With `wrapper` (plan.wrapper set), the wrapper's requirements follow upstream's and its tree
    holds upstream's."""
    check_repo(builder, plan.repo, state)  # before anything is built or tagged in the repository
    host = engine_inputs(plan.host, plan.recipe, builder, state)
    # Upstream's tree as built: with the wrapper's patches applied (PatchConflict when one no longer does).
    tree_id = upstream.apply_series(commit.sha, plan.wrapper.series) if plan.wrapper and plan.wrapper.series else ""
    requirements = _requirements(plan.wrapper, upstream, tree_id or commit.sha, wrapper)
    filters = _filtered_requirements(plan.recipe, requirements, reporter)
    env = plan_env(plan.recipe, host, plan.repo)
    deps = plan_deps(env, filters, plan.recipe, host, plan.repo)
    env_result = _ensure_base(plan, env, builder, reporter, no_cache=no_cache)
    settings = deps_settings(plan, no_cache=no_cache)
    deps_result = ensure_deps(builder, deps, reporter, settings, lambda: _one_deps_build(plan, deps, reporter))
    freeze = _pip_freeze(builder, deps_result, plan.state_dir / "cache")
    spec = plan_commit(
        commit=commit,
        deps=deps,
        recipe=plan.recipe,
        host=host,
        repo=plan.repo,
        source=upstream.url,
        created=created,
        overlays=plan.overlays,
        pip_freeze=freeze,
        wrapper=_wrapper_tree(plan.wrapper, wrapper, tree_id),
    )
    skipped: list[str] = []
    tree = _tree(plan.wrapper, upstream, tree_id or commit.sha, wrapper, skipped)
    rebuild = rebuild or no_cache
    result = ensure_image(
        builder, spec, reporter, timeout_s=plan.timeout_s, rebuild=rebuild, tree=tree, state_dir=plan.state_dir
    )
    if skipped:
        reporter.step(f"{len(skipped)} files missing from the mirror were left out: {', '.join(skipped[:10])}")
    return BuiltImage(
        commit=commit,
        tag=spec.tag,
        image_id=result.image_id,
        deps_key=deps.key,
        stages=(env_result, deps_result, result),
        filters=filters,
        skipped_files=tuple(skipped),
    )


@contextmanager
def _one_deps_build(plan: BuildPlan, deps: DepsSpec, reporter: Reporter) -> Iterator[None]:
    """One deps build of an env at a time in this state: the speculative endpoint builds of a
    bisect and its prefetches then reuse, or start their deltas from, what the first one made,
    rather than each building clean from the env image on the same CPUs."""
    path = plan.state_dir / "locks" / f"deps-{deps.env_key[:16]}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.step("waiting for another deps build of this env image (one at a time)")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def deps_settings(plan: BuildPlan, *, no_cache: bool) -> DepsSettings:
    return DepsSettings(
        timeout_s=plan.timeout_s,
        retries=plan.retries,
        backoff_s=plan.backoff_s,
        rebuild=no_cache,
        cache_volume=plan.cache_volume,
    )


def _requirements(
    layout: WrapperPlan | None, upstream: Upstream, tree: str, wrapper: WrapperSource | None
) -> bytes | None:
    """Upstream's requirements.txt (at a commit or a patched tree), then the wrapper's file (one
    text: the recipe filters both)."""
    own = upstream.read_file(tree, "requirements.txt")
    if layout is None or wrapper is None or layout.requirements is None:
        return own
    theirs = wrapper.repo.read_file(wrapper.commit.sha, layout.requirements)
    if theirs is None:
        raise BuildFailed(
            "deps",
            f"wrapper.requirements {layout.requirements!r} is not in the wrapper's tree at {wrapper.commit.short}",
            (),
        )
    head = f"\n# the wrapper's {layout.requirements} at {wrapper.commit.short}\n".encode()
    return (own or b"").rstrip(b"\n") + head + theirs


def _wrapper_tree(layout: WrapperPlan | None, wrapper: WrapperSource | None, patched: str) -> WrapperTree | None:
    if layout is None:
        return None
    if wrapper is None:
        raise ValueError("a wrapper-mode build needs the wrapper's commit")  # a harness bug: exit 128
    return WrapperTree(commit=wrapper.commit, url=layout.url, upstream_dir=layout.upstream_dir, patched_tree=patched)


def _tree(
    layout: WrapperPlan | None, upstream: Upstream, tree: str, wrapper: WrapperSource | None, skipped: list[str]
) -> Iterable[TreeEntry]:
    """The context's tree: upstream's (`tree`: a commit, or its patched tree), inside the wrapper's in wrapper mode."""
    if layout is None or wrapper is None:
        return upstream.iter_tree(tree, skipped)
    ours = upstream.iter_tree(tree, skipped)
    return wrapper_context_tree(wrapper.repo.iter_tree(wrapper.commit.sha, skipped), ours, layout.upstream_dir)


def _ensure_base(
    plan: BuildPlan, spec: BuildSpec, builder: ImageBuilder, reporter: Reporter, *, no_cache: bool
) -> BuildResult:
    """The env image: it installs from package indexes, so it gets the network retries."""
    return ensure_image(
        builder,
        spec,
        reporter,
        timeout_s=plan.timeout_s,
        rebuild=no_cache,
        retries=plan.retries,
        backoff_s=plan.backoff_s,
        state_dir=plan.state_dir,
    )


def _filtered_requirements(recipe: Recipe, requirements: bytes | None, reporter: Reporter) -> FilterReport:
    """The commit's requirements.txt through the recipe's filters, each rule's effect reported."""
    filters = filter_requirements((requirements or b"").decode("utf-8", "replace"), recipe.filters)
    for line, action, reason in filters.applied:
        reporter.step(f"requirement filter: {action} {line!r} ({reason})")
    for rule in filters.unused:
        reporter.step(f"requirement filter {rule.match!r} matched nothing (still needed? {rule.reason})")
    reporter.step(f"requirements policy of recipe {recipe.name}: {recipe.sdists.describe()}")
    return filters

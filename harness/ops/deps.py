"""The deps image of a requirements set: resolve a lock, then sync it FROM the closest image.

reuse   an image tagged with the deps key: nothing runs (the key never drifts with the index)
resolve uv's dry-run on the env image (after the recipe's pre_install): the lock (lock.py)
build   in a container of the closest image of the same env (fewest differing packages: a deps
        image, a delta, or the env image, clean), what differs from that image's lock is
        installed at its pin and what the lock lacks is uninstalled; committed when the freeze
        is the lock exactly
fallback a delta whose sync fails, or leaves other than the lock, or whose base was removed
        meanwhile (a gc between choosing it and starting), is built again clean: said
Both steps mount uv's download cache, a volume every build on the engine shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import TypeVar

from harness.context import DEPS_RUNTIME, KEY_LABEL, STAGE_LABEL, DepsSpec
from harness.errors import BuildFailed, RunInfraError
from harness.evaluate import infra_trouble
from harness.lock import BASE_LABEL, HOW_LABEL, LOCK_LABEL, Candidate, Lock, closest, lock_summary, mismatch, resolved
from harness.model import BuildResult, CommitTo, ScriptJob, ScriptResult
from harness.ports import ImageBuilder, Reporter

_CACHE_DIR = "/root/.cache/uv"
_JOB_ENV = (("UV_CACHE_DIR", _CACHE_DIR),)
_FREEZE, _RESOLVE = "/opt/harness/freeze.txt", "/opt/harness/resolve.txt"
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class DepsSettings:
    timeout_s: float
    retries: int
    backoff_s: float
    rebuild: bool = False  # --no-cache: a clean build from the env image, whatever exists
    cache_volume: str = "harness-uv-cache"


def ensure_deps(
    builder: ImageBuilder,
    spec: DepsSpec,
    reporter: Reporter,
    settings: DepsSettings,
    exclusive: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> BuildResult:
    """The deps image of `spec`: reused by key, else resolved and synced (module docstring).
    `exclusive`: held while syncing, so builds of one env go one at a time and a later one
    reuses, or starts its delta from, what an earlier one made. Resolving reads the env image
    only: several builds resolve at once (one that then finds its key built has resolved for
    nothing, a second or two)."""
    started = time.monotonic()
    if reused := _reused(builder, spec, reporter, settings, started):
        return reused
    reporter.step(f"resolving the requirements of deps image {spec.tag} with uv")
    locks = _retrying(lambda: _resolve(builder, spec, reporter, settings), reporter, settings)
    with exclusive():
        return _reused(builder, spec, reporter, settings, started) or _built(
            builder, spec, locks, reporter, settings, started
        )


def _reused(
    builder: ImageBuilder, spec: DepsSpec, reporter: Reporter, settings: DepsSettings, started: float
) -> BuildResult | None:
    image_id = builder.image_id(spec.tag) or ""
    if settings.rebuild or not image_id or builder.image_labels(image_id).get(KEY_LABEL) != spec.key:
        return None
    reporter.step(f"deps image {spec.tag} reused ({image_id[7:19]})")
    return BuildResult(image_id=image_id, tag=spec.tag, reused=True, seconds=time.monotonic() - started)


def _built(
    builder: ImageBuilder,
    spec: DepsSpec,
    locks: tuple[Lock, Lock],
    reporter: Reporter,
    settings: DepsSettings,
    started: float,
) -> BuildResult:
    lock, env_lock = locks
    env = Candidate(key="", image=spec.env_tag, lock=env_lock)
    base = env if settings.rebuild else closest(lock, [env, *_deps_images(builder, spec)]) or env
    image_id = _build(builder, spec, lock, base, env, reporter, settings)
    seconds = time.monotonic() - started
    reporter.step(f"deps image {spec.tag} built in {seconds:.1f} s ({image_id[7:19]})")
    return BuildResult(image_id=image_id, tag=spec.tag, reused=False, seconds=seconds)


def _job(
    spec: DepsSpec, image: str, command: str, settings: DepsSettings, files: tuple[tuple[str, bytes], ...] = ()
) -> ScriptJob:
    return ScriptJob(
        stage="deps",
        image=image,
        command=("sh", "/opt/harness/deps.sh", command),
        files=spec.files + files,
        env=_JOB_ENV,
        volumes=((settings.cache_volume, _CACHE_DIR),),
        read_back=(_FREEZE, _RESOLVE),
    )


def _resolve(builder: ImageBuilder, spec: DepsSpec, reporter: Reporter, settings: DepsSettings) -> tuple[Lock, Lock]:
    """(the lock, the env's own environment after pre_install); the commit's failure when uv
    finds no solution, with uv's words."""
    result = builder.run_script(
        _job(spec, spec.env_tag, "resolve", settings), timeout_s=settings.timeout_s, on_line=reporter.line
    )
    _check(result, "its requirements cannot be installed")
    lock = resolved(result.file(_FREEZE), result.file(_RESOLVE))
    reporter.step(f"lock: {lock_summary(lock)}")
    return lock, Lock.parse(result.file(_FREEZE))


def _deps_images(builder: ImageBuilder, spec: DepsSpec) -> list[Candidate]:
    """Deps images of the same env that carry a lock: the bases a delta may start from."""
    return [
        Candidate(key=i.labels.get(KEY_LABEL, ""), image=i.id, lock=Lock.parse(i.labels[LOCK_LABEL]))
        for i in builder.repo_images(spec.repo)
        if i.labels.get(STAGE_LABEL) == "deps"
        and i.labels.get("harness.env-key") == spec.env_key
        and LOCK_LABEL in i.labels
        and i.labels.get(KEY_LABEL) not in ("", spec.key)
    ]


def _build(
    builder: ImageBuilder,
    spec: DepsSpec,
    lock: Lock,
    base: Candidate,
    env: Candidate,
    reporter: Reporter,
    settings: DepsSettings,
) -> str:
    """Sync from `base`; a delta that fails goes again from `env`, the env image with its own
    lock (what to install is computed from it: the fallback, labelled)."""
    if base.key:
        reporter.step(f"delta from deps image {base.key[:16]}: {lock_summary(lock, base.lock.as_dict())}")
        try:
            return _sync(builder, spec, lock, base, "delta", reporter, settings)
        except BuildFailed as exc:
            reporter.step(f"the delta from {base.key[:16]} failed ({exc}); building it clean from the env image")
        except RunInfraError:
            if builder.image_id(base.image):  # the base is there: the engine's trouble, not the delta's
                raise
            reporter.step(f"deps image {base.key[:16]} was removed meanwhile; building it clean from the env image")
        return _retrying(lambda: _sync(builder, spec, lock, env, "fallback", reporter, settings), reporter, settings)
    reporter.step(f"clean from the env image: {lock_summary(lock)}")
    return _retrying(lambda: _sync(builder, spec, lock, base, "clean", reporter, settings), reporter, settings)


def _sync(
    builder: ImageBuilder,
    spec: DepsSpec,
    lock: Lock,
    base: Candidate,
    how: str,
    reporter: Reporter,
    settings: DepsSettings,
) -> str:
    labels = (*spec.labels, (LOCK_LABEL, lock.text), (BASE_LABEL, base.key), (HOW_LABEL, how))
    job = replace(
        _job(spec, base.image, "sync", settings, spec.sync_files(base.lock, lock)),
        commit=CommitTo(tag=spec.tag, labels=labels, changes=DEPS_RUNTIME),
    )
    result = builder.run_script(
        job, timeout_s=settings.timeout_s, on_line=reporter.line, accept=lambda r: _differs(lock, r)
    )
    _check(result, "bringing it to its lock failed")
    if not result.image_id:
        raise BuildFailed("deps", f"after the sync the environment is not the lock: {result.refused}", result.tail)
    return result.image_id


def _differs(lock: Lock, result: ScriptResult) -> str:
    """Why the synced environment must not become the image ("" when it is the lock exactly)."""
    problems = mismatch(lock, result.file(_FREEZE))
    return "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")


def _check(result: ScriptResult, what: str) -> None:
    if result.exit_code == 0:
        return
    tail = result.tail + (("returned a non-zero code: 137",) if result.exit_code == 137 else ())
    raise BuildFailed("deps", f"{what}: {uv_message(tail)}", tail)


def uv_message(tail: tuple[str, ...]) -> str:
    """uv's own error: from its first cross (U+00D7) or `error:` line on, joined; else the last lines."""
    starts = [i for i, line in enumerate(tail) if line.lstrip().startswith(("\u00d7", "error:"))]
    lines = tail[starts[0] :] if starts else tail[-3:]
    return " ".join(" ".join(line.split()) for line in lines if line.strip())[:1500]


def _retrying(step: Callable[[], T], reporter: Reporter, settings: DepsSettings) -> T:
    """Network trouble gets bounded retries with backoff; the commit's own failure is final."""
    for attempt in range(settings.retries + 1):
        try:
            return step()
        except BuildFailed as exc:
            if attempt == settings.retries or not infra_trouble(exc.log_tail):
                raise
            wait = settings.backoff_s * 3**attempt
            reporter.step(f"deps build hit infra trouble; retry {attempt + 1} of {settings.retries} in {wait:.0f} s")
            time.sleep(wait)
    raise AssertionError("unreachable")

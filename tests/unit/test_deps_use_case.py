"""The deps build: reuse by key, resolve, the closest base, delta, the fallback, the sync check."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Collection, Iterator

import pytest

from harness.context import KEY_LABEL, DepsSpec
from harness.errors import BuildFailed, RunInfraError
from harness.lock import BASE_LABEL, HOW_LABEL, LOCK_LABEL
from harness.model import ScriptJob, ScriptResult
from harness.ops.deps import DepsSettings, ensure_deps
from harness.ports import Acceptance, LineSink
from harness.services import ImageInfo
from tests.unit.fakes import FakeBuilder, Steps

ENV_FREEZE = "pip==23.0\ntorch==2.13.0\n"
SPEC = DepsSpec(
    tag="r-deps:new",
    repo="r-deps",
    key="new" * 8,
    env_tag="r-env:e",
    env_key="envkey",
    files=(("requirements.txt", b"numpy\nav\n"),),
    policy=("--only-binary :all:",),
    labels=((KEY_LABEL, "new" * 8), ("harness.stage", "deps"), ("harness.env-key", "envkey")),
)
SETTINGS = DepsSettings(timeout_s=60, retries=1, backoff_s=0)
WANT = "av==1\nnumpy==2\npip==23.0\ntorch==2.13.0\n"


def deps_image(key: str, lock: str, env_key: str = "envkey") -> ImageInfo:
    labels = {KEY_LABEL: key, "harness.stage": "deps", "harness.env-key": env_key, LOCK_LABEL: lock}
    return ImageInfo(id=f"sha256:{key}", tags=(f"r-deps:{key[:16]}",), labels=labels, created="")


class DepsBuilder(FakeBuilder):
    """Resolves to WANT; a sync from an image in `broken` fails, one in `wrong` leaves an extra."""

    def __init__(
        self,
        images: list[ImageInfo],
        *,
        broken: Collection[str] = (),
        wrong: Collection[str] = (),
        gone: Collection[str] = (),
        engine_trouble: Collection[str] = (),
    ) -> None:
        super().__init__()
        self.deps_images, self.broken, self.wrong = images, set(broken), set(wrong)
        # gone: removed after it was listed (a container of it cannot be made); engine_trouble: there,
        # but the engine refuses the container
        self.gone, self.trouble = set(gone), set(engine_trouble)
        self.jobs: list[ScriptJob] = []

    def image_id(self, name: str) -> str | None:
        if name in self.gone:
            return None
        return name if name in self.trouble else super().image_id(name)

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        return list(self.deps_images) if "r-deps" in repos else []

    def run_script(
        self, job: ScriptJob, *, timeout_s: float, on_line: LineSink, accept: Acceptance | None = None
    ) -> ScriptResult:
        self.jobs.append(job)
        if job.image in self.gone | self.trouble:
            raise RunInfraError(f"the deps build in a container of {job.image}: No such image: {job.image}")
        if job.commit is None:
            out = (("/opt/harness/freeze.txt", ENV_FREEZE), ("/opt/harness/resolve.txt", " + numpy==2\n + av==1\n"))
            return ScriptResult(image_id="", files=out, seconds=1, exit_code=0, tail=())
        if job.image in self.broken:
            return ScriptResult(image_id="", files=(), seconds=1, exit_code=1, tail=("error: sync broke",))
        freeze = WANT + ("stray==1\n" if job.image in self.wrong else "")
        result = ScriptResult(
            image_id="", files=(("/opt/harness/freeze.txt", freeze),), seconds=1, exit_code=0, tail=()
        )
        refused = accept(result) if accept else ""
        return dataclasses.replace(result, image_id="" if refused else "sha256:built", refused=refused)


def _build(builder: DepsBuilder, settings: DepsSettings = SETTINGS) -> tuple[dict[str, str], Steps]:
    steps = Steps()
    result = ensure_deps(builder, SPEC, steps, settings)
    assert result.image_id == "sha256:built" and not result.reused
    commit = builder.jobs[-1].commit
    assert commit is not None and commit.tag == SPEC.tag
    return dict(commit.labels), steps


def test_a_deps_image_with_the_key_is_reused_without_resolving() -> None:
    builder = DepsBuilder([])
    builder.images[SPEC.tag] = "sha256:old"
    builder.labels["sha256:old"] = {KEY_LABEL: SPEC.key}
    assert ensure_deps(builder, SPEC, Steps(), SETTINGS).reused
    assert builder.jobs == []


def test_with_no_deps_image_it_is_a_clean_sync_of_the_lock_on_the_env_image() -> None:
    builder = DepsBuilder([deps_image("other-env", WANT, env_key="another")])
    labels, _ = _build(builder)
    assert [j.image for j in builder.jobs] == ["r-env:e", "r-env:e"]  # resolve, then sync; never another env's
    assert labels[LOCK_LABEL] == WANT and labels[BASE_LABEL] == "" and labels[HOW_LABEL] == "clean"
    files = dict(builder.jobs[-1].files)
    assert files["lock.txt"].decode() == WANT
    # From the env (pip, torch): only what differs is installed, the recipe's policy first; nothing to remove.
    assert files["install.txt"].decode() == "--only-binary :all:\nav==1\nnumpy==2\n" and files["remove.txt"] == b""
    assert builder.jobs[0].volumes == builder.jobs[1].volumes == (("harness-uv-cache", "/root/.cache/uv"),)


def test_a_delta_starts_from_the_deps_image_with_the_fewest_differences() -> None:
    far = deps_image("far" * 8, "pip==23.0\ntorch==2.13.0\nx==1\ny==1\n")
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\ntorch==2.13.0\n")
    labels, steps = _build(DepsBuilder([far, near]))
    assert labels[BASE_LABEL] == near.labels[KEY_LABEL] and labels[HOW_LABEL] == "delta"
    assert any("delta from deps image nearnearnearnear: 4 packages; from its base: ~numpy" in s for s in steps.steps)


def test_a_failed_delta_is_built_again_clean_and_says_so() -> None:
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\ntorch==2.13.0\n")
    builder = DepsBuilder([near], broken={near.id})
    labels, steps = _build(builder)
    assert [j.image for j in builder.jobs] == ["r-env:e", near.id, "r-env:e"]
    assert labels[HOW_LABEL] == "fallback" and labels[BASE_LABEL] == ""
    # What the fallback installs is measured from the env image's own lock (pip, torch), not the delta's base.
    assert dict(builder.jobs[-1].files)["install.txt"].decode() == "--only-binary :all:\nav==1\nnumpy==2\n"
    assert any("the delta from nearnearnearnear failed" in s and "building it clean" in s for s in steps.steps)


def test_a_delta_base_removed_meanwhile_is_built_again_clean() -> None:
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\ntorch==2.13.0\n")
    labels, steps = _build(DepsBuilder([near], gone={near.id}))
    assert labels[HOW_LABEL] == "fallback"
    assert any("deps image nearnearnearnear was removed meanwhile" in s for s in steps.steps)


def test_an_engine_refusing_a_base_that_is_there_is_infra() -> None:
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\ntorch==2.13.0\n")
    with pytest.raises(RunInfraError, match="No such image"):
        _build(DepsBuilder([near], engine_trouble={near.id}))


def test_a_delta_that_leaves_other_than_the_lock_is_not_committed() -> None:
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\ntorch==2.13.0\n")
    builder = DepsBuilder([near], wrong={near.id})
    labels, steps = _build(builder)
    assert labels[HOW_LABEL] == "fallback"
    assert any("after the sync the environment is not the lock: extra stray==1" in s for s in steps.steps)


def test_a_clean_sync_that_leaves_other_than_the_lock_fails() -> None:
    builder = DepsBuilder([], wrong={"r-env:e"})
    with pytest.raises(BuildFailed, match="extra stray==1"):
        ensure_deps(builder, SPEC, Steps(), SETTINGS)


def test_no_cache_builds_clean_whatever_exists() -> None:
    near = deps_image("near" * 6, WANT)
    labels, _ = _build(DepsBuilder([near]), dataclasses.replace(SETTINGS, rebuild=True))
    assert labels[HOW_LABEL] == "clean"


def test_a_reuse_takes_no_turn_and_a_build_that_waited_its_turn_reuses_what_the_other_made() -> None:
    # It resolved before its turn (resolving reads the env image only, so builds resolve at once),
    # and syncs nothing once its turn comes.
    builder = DepsBuilder([])
    builder.images[SPEC.tag] = "sha256:old"
    builder.labels["sha256:old"] = {KEY_LABEL: SPEC.key}

    @contextlib.contextmanager
    def never() -> Iterator[None]:
        raise AssertionError("a reused image waits for no other build")
        yield

    assert ensure_deps(builder, SPEC, Steps(), SETTINGS, never).reused
    waited = DepsBuilder([])

    @contextlib.contextmanager
    def turn() -> Iterator[None]:  # while this build waited, another one made the same image
        waited.images[SPEC.tag] = "sha256:theirs"
        waited.labels["sha256:theirs"] = {KEY_LABEL: SPEC.key}
        yield

    result = ensure_deps(waited, SPEC, Steps(), SETTINGS, turn)
    assert result.reused and result.image_id == "sha256:theirs"
    assert [job.command[-1] for job in waited.jobs] == ["resolve"]


def test_resolving_goes_before_the_turn_and_syncing_inside_it() -> None:
    builder, held = DepsBuilder([]), []

    @contextlib.contextmanager
    def turn() -> Iterator[None]:
        held.append(len(builder.jobs))  # the jobs run when the turn came
        yield
        held.append(len(builder.jobs))

    ensure_deps(builder, SPEC, Steps(), SETTINGS, turn)
    assert [job.command[-1] for job in builder.jobs] == ["resolve", "sync"] and held == [1, 2]


def test_a_delta_installs_what_differs_and_removes_what_the_lock_lacks() -> None:
    near = deps_image("near" * 6, "av==1\nnumpy==1\npip==23.0\nstray==2\ntorch==2.13.0\n")
    builder = DepsBuilder([near])
    _build(builder)
    files = dict(builder.jobs[-1].files)
    assert files["install.txt"].decode() == "--only-binary :all:\nnumpy==2\n"  # av, pip, torch untouched
    assert files["remove.txt"].decode() == "stray\n"

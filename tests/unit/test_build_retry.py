"""Bounded retries of env and deps builds that met network trouble (harness/ops/build.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from harness.config import Config, load_config
from harness.errors import BuildFailed, UnsafeTree
from harness.model import BuildSpec, Commit, ScriptJob, ScriptResult
from harness.ops.build import BuiltImage, build_commit_image, ensure_image
from harness.plan import build_plan
from harness.ports import Acceptance, LineSink
from harness.services import ImageInfo
from harness.tarball import TreeEntry
from tests.unit.fakes import FakeBuilder, FakeUpstream, Steps

SPEC = BuildSpec(stage="deps", tag="r-deps:k", key="k", dockerfile="FROM x\n", files=())
NETWORK = ("WARNING: Retrying ... Temporary failure in name resolution",)
MISSING = ("ERROR: No matching distribution found for nosuchpkg",)


class FlakyNetworkBuilder(FakeBuilder):
    def __init__(self, failures: list[tuple[str, ...]]) -> None:
        super().__init__(expect=())
        self.failures, self.calls = failures, 0

    def image_labels(self, name: str) -> dict[str, str]:
        return {}

    def image_id(self, name: str) -> str | None:
        return None

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        return []  # no other state owns the repository

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.calls += 1
        assert context.read(1)  # the same context is sent again from its start
        if self.failures:
            raise BuildFailed(spec.stage, "pip install failed", self.failures.pop(0))
        return "sha256:" + "1" * 64


def test_network_failures_are_retried_then_succeed() -> None:
    builder, steps = FlakyNetworkBuilder([NETWORK, NETWORK]), Steps()
    result = ensure_image(builder, SPEC, steps, timeout_s=60, retries=2, backoff_s=0)
    assert builder.calls == 3 and result.image_id.startswith("sha256:1")
    assert sum("retry" in s for s in steps.steps) == 2


def test_retries_are_bounded() -> None:
    builder = FlakyNetworkBuilder([NETWORK] * 5)
    with pytest.raises(BuildFailed):
        ensure_image(builder, SPEC, Steps(), timeout_s=60, retries=2, backoff_s=0)
    assert builder.calls == 3


def test_a_failure_the_commit_causes_is_not_retried() -> None:
    builder = FlakyNetworkBuilder([MISSING])
    with pytest.raises(BuildFailed):
        ensure_image(builder, SPEC, Steps(), timeout_s=60, retries=2, backoff_s=0)
    assert builder.calls == 1


class StageBuilder(FlakyNetworkBuilder):
    """Fails the builds of one stage with `failures` first; every other call succeeds."""

    def __init__(self, stage: str, failures: list[tuple[str, ...]]) -> None:
        super().__init__(failures)
        self.stage, self.stages = stage, list[str]()

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.stages.append(spec.stage)
        if spec.stage == self.stage and self.failures:
            raise BuildFailed(spec.stage, "pip install failed", self.failures.pop(0))
        return "sha256:" + str(len(self.stages)) * 64

    def run_script(
        self, job: ScriptJob, *, timeout_s: float, on_line: LineSink, accept: Acceptance | None = None
    ) -> ScriptResult:
        """The deps build's steps: both fail while `failures` last (stage deps); the sync commits."""
        if self.stage == "deps" and self.failures:
            self.stages.append(f"deps {job.command[-1]}")
            return ScriptResult(image_id="", files=(), seconds=1.0, exit_code=1, tail=self.failures.pop(0))
        lock = dict(job.files).get("lock.txt", b"").decode()
        out = (("/opt/harness/freeze.txt", lock or "pip==23.0\n"), ("/opt/harness/resolve.txt", " + numpy==2.0\n"))
        if job.commit is None:
            return ScriptResult(image_id="", files=out, seconds=1.0, exit_code=0, tail=())
        self.stages.append("deps")
        return ScriptResult(image_id="sha256:" + "d" * 64, files=out, seconds=1.0, exit_code=0, tail=())

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        return []

    def image_id(self, name: str) -> str | None:
        return "sha256:" + "b" * 64 if name.startswith("harness-base") else None

    def repo_digest(self, name: str) -> str:
        return ""

    def read_file(self, image: str, path: str) -> str:
        return "numpy==2.0\n"


class OneCommit(FakeUpstream):
    def __init__(self) -> None:
        super().__init__(expect=())

    def read_file(self, sha: str, path: str) -> bytes | None:
        return b"numpy\n" if path == "requirements.txt" else None

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        yield TreeEntry(path="wgp.py", mode=0o100644, data=b"print('wgp')\n")

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        return None


def _config(tmp_path: Path) -> Config:
    (tmp_path / "up").mkdir()
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text("base: harness-base:bookworm\npython: python3\ntorch: []\n")
    config = tmp_path / "harness.yaml"
    config.write_text(
        "upstream: {url: ./up}\ncontract: none\nimage: {repo: harness-test/retry, recipe: ./recipe}\n"
        "build: {retries: 2, retry_backoff_s: 0}\nrun: {gpu: none}\n"
        "suite:\n  cases: [{id: t2v, model: t2v_tiny}]\n"
    )
    return load_config(config)


def _build(tmp_path: Path, builder: StageBuilder) -> BuiltImage:
    commit = Commit(sha="1" * 40, message="m", author="a <a@b>", date="2024-01-01T00:00:00+00:00")
    return build_commit_image(
        build_plan(_config(tmp_path)),
        commit,
        upstream=OneCommit(),
        builder=builder,
        reporter=Steps(),
        created="2024-01-02T00:00:00Z",
        state="0123456789ab",
    )


def test_env_build_network_failure_is_retried_like_deps(tmp_path: Path) -> None:
    builder = StageBuilder("env", [NETWORK])
    built = _build(tmp_path, builder)
    assert builder.stages == ["env", "env", "deps", "commit"]
    assert built.image_id.startswith("sha256:4")


def test_env_build_failure_of_the_recipe_is_not_retried(tmp_path: Path) -> None:
    builder = StageBuilder("env", [("E: Unable to locate package no-such-package",)])
    with pytest.raises(BuildFailed):
        _build(tmp_path, builder)
    assert builder.stages == ["env"]


UV_NETWORK = ("error: Failed to fetch: `https://pypi.org/simple/numpy/`", "  Caused by: dns error")
UV_NO_SOLUTION = (
    "Resolved 3 packages in 10ms",
    "  \u00d7 No solution found when resolving dependencies:",
    "  \u2570\u2500\u25b6 Because nosuchpkg was not found in the package registry and you require nosuchpkg, we",
    "      can conclude that your requirements are unsatisfiable.",
)


def test_deps_resolution_network_failure_is_retried(tmp_path: Path) -> None:
    builder = StageBuilder("deps", [UV_NETWORK])
    _build(tmp_path, builder)
    assert builder.stages == ["env", "deps resolve", "deps", "commit"]


def test_an_unsatisfiable_requirement_set_fails_at_once_with_uvs_words(tmp_path: Path) -> None:
    builder = StageBuilder("deps", [UV_NO_SOLUTION])
    with pytest.raises(BuildFailed) as failed:
        _build(tmp_path, builder)
    assert builder.stages == ["env", "deps resolve"]  # not retried, nothing built on it
    message = str(failed.value)
    assert "its requirements cannot be installed" in message
    assert "No solution found when resolving dependencies" in message and "nosuchpkg was not found" in message
    assert "Resolved 3 packages" not in message  # uv's error, not its chatter

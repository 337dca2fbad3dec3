"""Bounded retries of deps builds that met network trouble (harness/ops/build.ensure_image)."""

from __future__ import annotations

from typing import BinaryIO

import pytest

from harness.errors import BuildFailed
from harness.model import BuildSpec
from harness.ops.build import ensure_image
from harness.ports import LineSink

SPEC = BuildSpec(stage="deps", tag="r-deps:k", key="k", dockerfile="FROM x\n", files=())
NETWORK = ("WARNING: Retrying ... Temporary failure in name resolution",)
MISSING = ("ERROR: No matching distribution found for nosuchpkg",)


class FlakyNetworkBuilder:
    def __init__(self, failures: list[tuple[str, ...]]) -> None:
        self.failures, self.calls = failures, 0

    def image_labels(self, name: str) -> dict[str, str]:
        return {}

    def image_id(self, name: str) -> str | None:
        return None

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.calls += 1
        assert context.read(1)  # the same context is sent again from its start
        if self.failures:
            raise BuildFailed(spec.stage, "pip install failed", self.failures.pop(0))
        return "sha256:" + "1" * 64


class Steps:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)

    def line(self, text: str) -> None:
        pass


def test_network_failures_are_retried_then_succeed() -> None:
    builder, steps = FlakyNetworkBuilder([NETWORK, NETWORK]), Steps()
    result = ensure_image(builder, SPEC, steps, timeout_s=60, retries=2, backoff_s=0)  # type: ignore[arg-type]
    assert builder.calls == 3 and result.image_id.startswith("sha256:1")
    assert sum("retry" in s for s in steps.steps) == 2


def test_retries_are_bounded() -> None:
    builder = FlakyNetworkBuilder([NETWORK] * 5)
    with pytest.raises(BuildFailed):
        ensure_image(builder, SPEC, Steps(), timeout_s=60, retries=2, backoff_s=0)  # type: ignore[arg-type]
    assert builder.calls == 3


def test_a_failure_the_commit_causes_is_not_retried() -> None:
    builder = FlakyNetworkBuilder([MISSING])
    with pytest.raises(BuildFailed):
        ensure_image(builder, SPEC, Steps(), timeout_s=60, retries=2, backoff_s=0)  # type: ignore[arg-type]
    assert builder.calls == 1

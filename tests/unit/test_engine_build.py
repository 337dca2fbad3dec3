"""The engine adapter's build stream reading (adapters/engine/build.py), without an engine."""

from __future__ import annotations

import pytest

from harness.adapters.engine.build import _Progress
from harness.errors import BuildFailed
from harness.model import BuildSpec

SPEC = BuildSpec(stage="deps", tag="harness-test/x:deps", key="k", dockerfile="FROM scratch\n", files=())
STEP = "a" * 12


def test_the_image_id_comes_from_aux_and_the_running_step_is_followed() -> None:
    lines: list[str] = []
    progress = _Progress()
    progress.take(SPEC, {"stream": f"Step 1/2 : RUN true\n ---> Running in {STEP}\n"}, lines.append)
    assert progress.step_container == STEP and lines == ["Step 1/2 : RUN true", f" ---> Running in {STEP}"]
    progress.take(SPEC, {"aux": {"ID": "sha256:" + "b" * 64}}, lines.append)
    progress.take(SPEC, {"stream": "Successfully built " + "c" * 12 + "\n"}, lines.append)
    # aux is the build's own id; the 'Successfully built' short id is kept only as the fallback.
    assert progress.image_id == "sha256:" + "b" * 64 and progress.built == "c" * 12


def test_an_error_item_fails_the_build_with_the_engine_message_last_in_the_tail() -> None:
    progress = _Progress()
    progress.take(SPEC, {"stream": "Step 1/1 : FROM gone:1\n"}, lambda _: None)
    with pytest.raises(BuildFailed) as failed:
        progress.take(SPEC, {"error": "pull access denied for gone \n"}, lambda _: None)
    assert failed.value.log_tail == ("Step 1/1 : FROM gone:1", "pull access denied for gone")
    assert "deps image build failed: pull access denied for gone" in str(failed.value)


def test_the_tail_keeps_the_last_60_lines() -> None:
    progress = _Progress()
    progress.take(SPEC, {"stream": "".join(f"line {i}\n" for i in range(100))}, lambda _: None)
    assert list(progress.tail) == [f"line {i}" for i in range(40, 100)]

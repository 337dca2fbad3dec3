"""Build journals (harness/buildsteps.py) and the image id a build records (harness/ops/build.py)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from harness.buildsteps import journal, read_journals, step_container
from harness.errors import BuildFailed, EngineUnavailable
from harness.model import BuildSpec
from harness.ops.build import ensure_image
from harness.ports import LineSink
from tests.unit.fakes import FakeBuilder, Steps
from tests.unit.test_build_retry import SPEC

STEP = " ---> Running in 4583386d2bc0"


def test_a_step_line_names_its_container() -> None:
    assert step_container(STEP) == "4583386d2bc0"
    assert step_container(" ---> 36e540714dff") is None and step_container("Running in me") is None


def test_a_journal_goes_when_the_engine_ended_the_build_and_stays_otherwise(tmp_path: Path) -> None:
    with journal(tmp_path, "host:1") as note:
        note("Step 1/2 : RUN true")
        note(STEP)
        assert [(j.session, j.containers, j.ended) for j in read_journals(tmp_path)] == [
            ("host:1", ("4583386d2bc0",), False)
        ]
    with pytest.raises(BuildFailed), journal(tmp_path, "host:1") as note:
        note(STEP)
        raise BuildFailed("deps", "pip failed", ())  # the engine removed its steps itself (forcerm)
    assert read_journals(tmp_path) == []
    for stop in (EngineUnavailable("engine gone"), KeyboardInterrupt()):
        with pytest.raises(type(stop)), journal(tmp_path, "host:2") as note:
            note(STEP)
            raise stop
    # Kept for gc, marked ended: the process may live on (bisect), its steps are leftovers now.
    assert [(j.session, j.containers, j.ended) for j in read_journals(tmp_path)] == [
        ("host:2", ("4583386d2bc0",), True)
    ] * 2


def test_an_unreadable_journal_is_skipped_and_an_unwritable_one_never_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "builds").mkdir()
    (tmp_path / "builds" / "empty.steps").write_text("")
    (tmp_path / "builds" / "junk.steps").write_text("host:1\n../../etc\n4583386d2bc0\n")
    assert [j.containers for j in read_journals(tmp_path)] == [("4583386d2bc0",)]
    blocked = tmp_path / "file"
    blocked.write_text("")  # the state folder cannot take a journal: the build goes on
    with journal(blocked, "host:1") as note:
        note(STEP)


class MovingTag(FakeBuilder):
    """The tag points at image A, and at B (the same key, another build) from the second look on."""

    def __init__(self) -> None:
        super().__init__(expect=())
        self.looks = 0

    def _resolve(self, name: str) -> str:
        if name.startswith("sha256:"):
            return name
        self.looks += 1
        return "sha256:A" if self.looks == 1 else "sha256:B"

    def image_id(self, name: str) -> str | None:
        return self._resolve(name)

    def image_labels(self, name: str) -> dict[str, str]:
        self._resolve(name)
        return {"harness.key": SPEC.key}

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        raise AssertionError("reused, never built")


def test_a_reused_image_is_the_one_whose_key_was_checked() -> None:
    result = ensure_image(MovingTag(), SPEC, Steps(), timeout_s=60)
    assert result.reused and result.image_id == "sha256:A"

"""What a commit leaves in its run folder cannot hang or blow up the host (issue 13).

results.json as a FIFO blocked harness forever; 1.5 GB of it took 4.7 GB of RSS; 200,000
levels of nesting ended in a RecursionError traceback with nothing recorded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from harness.adapters.run_files import tree_bytes
from harness.adapters.video import probe_video, read_frames, write_sample_clip
from harness.config import Config
from harness.evaluate import evaluate
from harness.model import RunOutcome, Verdict
from harness.ops.test import run_suite
from harness.plan import suite_plan
from harness.runplan import OUT_DIR, ContainerExit, RunRequest
from tests.conftest import write_config
from tests.unit.fakes import FakeGpu, Quiet

T = TypeVar("T")
WAIT_S = 20.0  # far above what any of these reads take once they are bounded


class Leaves:
    """A container that 'ran' and left what `write` puts in its output folder."""

    def __init__(self, write: Callable[[Path], object]) -> None:
        self.write = write

    def runtimes(self) -> set[str]:
        return set()

    def run(self, request: RunRequest, *, log_path: str, on_line: object) -> ContainerExit:
        out = next(Path(m.source) for m in request.mounts if m.target == OUT_DIR)
        self.write(out)
        return ContainerExit(exit_code=0, timed_out=False, oom_killed=False, seconds=0.0)


def _config(tmp_path: Path, run_extra: str = "") -> Config:
    from harness.config import load_config

    upstream = tmp_path / "upstream"
    upstream.mkdir(exist_ok=True)
    return load_config(write_config(tmp_path, upstream=upstream, repo="harness-test/runfiles", run_extra=run_extra))


def _bounded(fn: Callable[[], T]) -> T:
    """Run `fn` in a daemon thread: a hang fails the test instead of blocking pytest forever."""
    box: list[T | BaseException] = []

    def target() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test as is
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive(), f"still reading the run folder after {WAIT_S:.0f} s (blocked)"
    first = box[0]
    if isinstance(first, BaseException):
        raise first
    return first


def _run(tmp_path: Path, write: Callable[[Path], object], run_extra: str = "") -> RunOutcome:
    cfg = _config(tmp_path, run_extra)
    return _bounded(
        lambda: run_suite(
            suite_plan(cfg),
            image="sha256:" + "0" * 64,
            run_id="r1",
            run_dir=tmp_path / "run",
            labels={},
            runner=Leaves(write),
            gpu_probe=FakeGpu(),
            probe=probe_video,
            reporter=Quiet(),
            smoke=True,
        )
    )


def _judged(tmp_path: Path, write: Callable[[Path], object]) -> tuple[Verdict, str]:
    cfg = _config(tmp_path)
    outcome = _run(tmp_path, write)
    verdict, summary, _ = evaluate(cfg.suite, outcome)
    return verdict, summary


def test_results_json_as_a_fifo_is_the_commits_fail_not_a_hang(tmp_path: Path) -> None:
    verdict, summary = _judged(tmp_path, lambda out: os.mkfifo(out / "results.json"))
    assert verdict is Verdict.FAIL and "results.json is not a regular file (a FIFO)" in summary, summary


def test_results_json_as_a_symlink_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.json"
    secret.write_text(json.dumps({"results": [{"case_id": "t2v", "status": "success"}]}))
    verdict, summary = _judged(tmp_path, lambda out: (out / "results.json").symlink_to(secret))
    assert verdict is Verdict.FAIL and "results.json is a symbolic link" in summary, summary


def test_huge_results_json_is_refused_unread(tmp_path: Path) -> None:
    def huge(out: Path) -> None:
        with (out / "results.json").open("wb") as fh:
            fh.truncate(1536 << 20)  # 1.5 GB (sparse: the test writes nothing)

    verdict, summary = _judged(tmp_path, huge)
    assert verdict is Verdict.FAIL and "over the 16 MiB cap" in summary, summary


def test_deeply_nested_results_json_is_a_recorded_fail(tmp_path: Path) -> None:
    verdict, summary = _judged(tmp_path, lambda out: (out / "results.json").write_text("[" * 200_000))
    assert verdict is Verdict.FAIL and "results.json" in summary and "nested" in summary, summary


def test_malformed_results_json_is_the_commits_fail(tmp_path: Path) -> None:
    verdict, summary = _judged(tmp_path, lambda out: (out / "results.json").write_text('{"results": [tru'))
    assert verdict is Verdict.FAIL and "results.json is not valid JSON" in summary, summary


def test_a_video_named_fifo_or_symlink_is_never_opened(tmp_path: Path) -> None:
    fifo, link, real = tmp_path / "fifo.mp4", tmp_path / "link.mp4", tmp_path / "real.mp4"
    os.mkfifo(fifo)
    write_sample_clip(real, width=32, height=32, frames=3, seed=1)
    link.symlink_to(real)
    facts = _bounded(lambda: probe_video(fifo))
    assert facts.exists and not facts.decodes and "not a regular file (a FIFO)" in str(facts.error)
    facts = probe_video(link)
    assert not facts.decodes and "symbolic link" in str(facts.error)
    assert probe_video(real).decodes and probe_video(real).frames == 3
    with pytest.raises(OSError, match="not a regular file"):
        _bounded(lambda: read_frames(fifo))


def test_output_past_the_cap_found_after_the_run_is_a_fail_and_removed(tmp_path: Path) -> None:
    """The container exited before a poll saw it: the check after the run catches it."""

    def lots(out: Path) -> None:
        (out / "results.json").write_text(json.dumps({"results": []}))
        for index in range(3):
            (out / f"blob{index}").write_bytes(os.urandom(1 << 20))

    outcome = _run(tmp_path, lots, run_extra="  max_output_gib: 0.001\n")
    verdict, summary, _ = evaluate(_config(tmp_path).suite, outcome)
    assert verdict is Verdict.FAIL and "more than 0.001 GiB into its output folder" in summary, summary
    assert list((tmp_path / "run" / "out").iterdir()) == []


def test_tree_bytes_counts_blocks_and_entries_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data").write_bytes(os.urandom(64 << 10))
    with (tmp_path / "sparse").open("wb") as fh:
        fh.truncate(1 << 40)  # a terabyte that takes no disk
    (tmp_path / "link").symlink_to("/usr")
    assert 64 << 10 <= tree_bytes(tmp_path, 1 << 30) < 1 << 20


def test_host_path_resolves_folders_inside_out_but_never_the_last_name(tmp_path: Path) -> None:
    from harness.ops.test import _host_path

    out = tmp_path / "out"
    (out / "t2v").mkdir(parents=True)
    (out / "escape").symlink_to(tmp_path.parent)
    (out / "t2v" / "v.mp4").symlink_to("/etc/hostname")
    assert _host_path(tmp_path, "/harness/out/t2v/v.mp4") == out.resolve() / "t2v" / "v.mp4"  # the link itself
    assert _host_path(tmp_path, "/harness/out/escape/v.mp4") is None
    assert _host_path(tmp_path, "/harness/out/../secret") is None
    assert _host_path(tmp_path, "/harness/out") is None
    assert _host_path(tmp_path, "/etc/passwd") is None

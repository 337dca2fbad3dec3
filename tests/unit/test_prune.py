"""Video pruning's plan (harness/prune.py): old runs lose their videos only, protected runs none."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from harness.model import RunRecord, Verdict
from harness.prune import plan_prune, started_at
from tests.unit.fakes import FakeFiles, image, record, sha

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
OLD, NEW = "2026-02-01T00:00:00+00:00", "2026-02-28T00:00:00+00:00"
RUN_FILES = [
    ("out/a.mp4", 5),
    ("out/b.WEBM", 7),
    ("out/a.jpg", 1),
    ("thumb.png", 1),
    ("results.json", 2),
    ("container.log", 3),
]


def _run(
    run_id: str, started: str, verdict: Verdict = Verdict.PASS, *, letter: str = "a", run_dir: str = ""
) -> RunRecord:
    base = record(sha(letter), image(letter), run_id, verdict)
    return dataclasses.replace(base, started=started, run_dir=run_dir or f"/state/runs/{run_id}")


def _plan(
    records: list[RunRecord], fs: FakeFiles, protected: set[str] | dict[str, str] | None = None
) -> tuple[set[str], dict[str, str]]:
    plan = plan_prune(records, now=NOW, keep_days=14, protected_images=protected or set(), files=fs.files)
    return {str(p) for p, _ in plan.remove}, dict(plan.kept_runs)


def test_an_old_run_loses_its_videos_only_and_a_recent_one_is_not_even_listed() -> None:
    fs = FakeFiles({"/state/runs/r1": RUN_FILES, "/state/runs/r2": RUN_FILES})
    removed, kept = _plan([_run("r2", NEW), _run("r1", OLD)], fs)
    assert removed == {"/state/runs/r1/out/a.mp4", "/state/runs/r1/out/b.WEBM"}
    assert kept == {}
    assert fs.listed == [Path("/state/runs/r1")]


def test_production_last_good_and_failing_runs_keep_their_videos_with_why() -> None:
    fs = FakeFiles({f"/state/runs/r{i}": RUN_FILES for i in range(1, 8)})
    records = [
        _run("r1", OLD, letter="a"),
        _run("r2", OLD, letter="b"),
        _run("r3", OLD, Verdict.FAIL, letter="c"),
        _run("r4", OLD, Verdict.FLAKY, letter="c"),
        _run("r5", OLD, Verdict.ERROR, letter="c"),  # infra judged nothing: its videos go
        _run("r6", OLD, Verdict.SKIP, letter="c"),
        _run("r7", OLD, letter="c"),
    ]
    removed, kept = _plan(records, fs, {image("a"): "production (revision 3)", image("b"): "last-good"})
    assert kept == {"r1": "production (revision 3)", "r2": "last-good", "r3": "judged fail", "r4": "judged flaky"}
    assert {p.split("/")[3] for p in removed} == {"r5", "r6", "r7"}


def test_a_set_of_protected_images_names_the_image() -> None:
    fs = FakeFiles({"/state/runs/r1": RUN_FILES})
    removed, kept = _plan([_run("r1", OLD, letter="a")], fs, {image("a")})
    assert removed == set()
    assert kept == {"r1": f"image {image('a')[7:19]} is protected"}


def test_a_protected_run_without_videos_is_not_reported_and_a_folderless_one_not_listed() -> None:
    fs = FakeFiles({"/state/runs/r1": [("results.json", 2)]})
    records = [_run("r1", OLD, Verdict.FAIL), dataclasses.replace(_run("r2", OLD), run_dir="")]
    assert _plan(records, fs) == (set(), {})
    assert fs.listed == [Path("/state/runs/r1")]


def test_a_folder_two_records_share_is_kept_when_either_is_protected_or_recent() -> None:
    fs = FakeFiles({"/state/runs/shared": RUN_FILES})
    records = [
        _run("r1", OLD, run_dir="/state/runs/shared"),
        _run("r2", OLD, Verdict.FAIL, run_dir="/state/runs/shared"),
    ]
    removed, kept = _plan(records, fs)
    assert removed == set()
    assert kept == {"r1": "judged fail"}
    assert _plan([_run("r3", NEW, run_dir="/state/runs/shared"), records[0]], fs) == (set(), {})


def test_a_path_the_lister_gives_outside_the_run_folder_is_never_planned() -> None:
    fs = FakeFiles({"/state/runs/r1": [("out/a.mp4", 5), ("../r9/out/b.mp4", 5)]})
    fs.folders[Path("/state/runs/r1")][Path("/elsewhere/c.mp4")] = 5
    removed, _ = _plan([_run("r1", OLD)], fs)
    assert removed == {"/state/runs/r1/out/a.mp4"}


def test_keep_days_is_the_age_limit() -> None:
    fs = FakeFiles({"/state/runs/r1": RUN_FILES})
    records = [_run("r1", "2026-02-15T11:00:00+00:00")]  # 14 days and an hour old
    assert plan_prune(records, now=NOW, keep_days=15, protected_images=set(), files=fs.files).remove == ()
    assert len(plan_prune(records, now=NOW, keep_days=14, protected_images=set(), files=fs.files).remove) == 2


def test_the_start_comes_from_the_record_else_from_the_run_id_else_the_run_is_left_alone() -> None:
    fs = FakeFiles({"/state/runs/20260101-000000-abcdef": RUN_FILES, "/state/runs/odd": RUN_FILES})
    by_id = _run("20260101-000000-abcdef", "not a time")
    unknown = _run("odd", "")
    assert started_at(by_id) == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert started_at(unknown) is None
    assert started_at(_run("r1", "2026-01-01T00:00:00")) == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    removed, _ = _plan([by_id, unknown], fs)
    assert {p.split("/")[3] for p in removed} == {"20260101-000000-abcdef"}

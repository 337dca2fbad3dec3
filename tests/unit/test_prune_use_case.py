"""prune_videos (ops/prune.py) over a store: what production and last-good protect, idempotence,
files that cannot go, records whose folder lies outside the state's runs/."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.ops.prune import prune_videos
from harness.store import Store
from tests.unit.fakes import FakeFiles, image, record, release, sha

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
OLD = "2026-01-01T00:00:00+00:00"
VIDEOS = [("out/a.mp4", 100), ("out/a.jpg", 1), ("results.json", 1)]


def _store(tmp_path: Path, runs: dict[str, tuple[str, Verdict]], *, run_dirs: dict[str, Path] | None = None) -> Store:
    """A store holding old runs (run id -> (image letter, verdict)) in <tmp>/runs/<run id>."""
    store = Store(tmp_path / "state.db")
    for run_id, (letter, verdict) in runs.items():
        folder = (run_dirs or {}).get(run_id, tmp_path / "runs" / run_id)
        base = record(sha(letter), image(letter), run_id, verdict)
        store.add_run(dataclasses.replace(base, started=OLD, run_dir=str(folder)))
    return store


def _files(tmp_path: Path, *run_ids: str, refuse: tuple[str, ...] = ()) -> FakeFiles:
    return FakeFiles({str(tmp_path / "runs" / r): VIDEOS for r in run_ids}, refuse=refuse)


def test_production_and_last_good_keep_their_videos_the_rest_go_once(tmp_path: Path) -> None:
    store = _store(tmp_path, {"r1": ("a", Verdict.PASS), "r2": ("b", Verdict.PASS), "r3": ("c", Verdict.PASS)})
    store.add_release(release(0, image("a"), sha("a")))
    store.add_run(
        dataclasses.replace(record(sha("b"), image("b"), "r4"), started=OLD, run_dir=str(tmp_path / "runs" / "r4")),
        move_pointer=LAST_GOOD,
    )
    fs = _files(tmp_path, "r1", "r2", "r3", "r4")
    report = prune_videos(
        store, now=NOW, keep_days=14, runs_root=tmp_path / "runs", remove=fs.remove, list_files=fs.files
    )
    assert fs.removed == [tmp_path / "runs" / "r3" / "out" / "a.mp4"]
    assert (report.removed, report.freed_bytes, report.failed) == (1, 100, ())
    assert dict(report.kept) == {"r1": "production (revision 1)", "r2": "last-good", "r4": "last-good"}
    again = prune_videos(
        store, now=NOW, keep_days=14, runs_root=tmp_path / "runs", remove=fs.remove, list_files=fs.files
    )
    assert (again.removed, again.freed_bytes) == (0, 0)
    assert fs.removed == [tmp_path / "runs" / "r3" / "out" / "a.mp4"]


def test_a_file_that_cannot_go_is_reported_and_the_others_still_go(tmp_path: Path) -> None:
    store = _store(tmp_path, {"r1": ("a", Verdict.PASS)})
    fs = FakeFiles({str(tmp_path / "runs" / "r1"): [("a.mp4", 10), ("b.mp4", 20)]}, refuse=("a.mp4",))
    report = prune_videos(
        store, now=NOW, keep_days=14, runs_root=tmp_path / "runs", remove=fs.remove, list_files=fs.files
    )
    assert (report.removed, report.freed_bytes) == (1, 20)
    assert report.failed == (f"{tmp_path / 'runs' / 'r1' / 'a.mp4'}: Permission denied",)


def test_a_record_whose_folder_lies_outside_the_runs_folder_is_never_looked_into(tmp_path: Path) -> None:
    elsewhere = tmp_path / "home" / "videos"
    store = _store(tmp_path, {"r1": ("a", Verdict.PASS), "r2": ("b", Verdict.PASS)}, run_dirs={"r2": elsewhere})
    fs = FakeFiles({str(tmp_path / "runs" / "r1"): VIDEOS, str(elsewhere): VIDEOS})
    fs.folders[tmp_path / "runs"] = {tmp_path / "runs" / "x.mp4": 1}
    store.add_run(dataclasses.replace(record(sha("c"), image("c"), "r3"), started=OLD, run_dir=str(tmp_path / "runs")))
    report = prune_videos(
        store, now=NOW, keep_days=14, runs_root=tmp_path / "runs", remove=fs.remove, list_files=fs.files
    )
    assert fs.listed == [tmp_path / "runs" / "r1"]
    assert report.removed == 1

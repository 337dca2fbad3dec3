"""prune_videos over a real store and real run folders (no engine): old runs lose their videos,
records, logs and thumbnails stay; production's, last-good's and failing runs keep everything;
no symbolic link is followed out of a run folder; a second prune removes nothing."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.ops.prune import prune_videos, run_files
from harness.store import Store
from tests.unit.fakes import image, record, release, sha

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
OLD, RECENT = "2026-01-01T00:00:00+00:00", "2026-02-27T00:00:00+00:00"
KEPT_FILES = ("results.json", "container.log", "owner.lock", "out/a.jpg", "out/thumbs/a.png", "in/spec.json")
VIDEOS = ("out/a.mp4", "out/b.webm", "in/guide.mp4")


def _folder(run_dir: Path) -> None:
    for name in (*KEPT_FILES, *VIDEOS):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(b"v" * 1000)


def _add(store: Store, runs: Path, run_id: str, letter: str, started: str, verdict: Verdict = Verdict.PASS) -> Path:
    run_dir = runs / run_id
    run = dataclasses.replace(
        record(sha(letter), image(letter), run_id, verdict), started=started, run_dir=str(run_dir)
    )
    store.add_run(run, move_pointer=LAST_GOOD if letter == "g" else None)
    _folder(run_dir)
    return run_dir


def _names(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p, _ in run_files(run_dir)}


def test_prune_videos_over_a_real_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runs = state / "runs"
    store = Store(state / "state.db")  # opened before the folders exist: none is an orphan
    store.add_release(release(0, image("p"), sha("p")))
    old = _add(store, runs, "20260101-000000-000001", "a", OLD)
    recent = _add(store, runs, "20260227-000000-000002", "b", RECENT)
    production = _add(store, runs, "20260101-000000-000003", "p", OLD)
    last_good = _add(store, runs, "20260101-000000-000004", "g", OLD)
    failing = _add(store, runs, "20260101-000000-000005", "c", OLD, Verdict.FAIL)
    errored = _add(store, runs, "20260101-000000-000006", "d", OLD, Verdict.ERROR)
    # Links a run folder may hold: to a host folder and to a host video. Neither is followed.
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "precious.mp4").write_bytes(b"keep me")
    (old / "upstream").symlink_to(outside, target_is_directory=True)
    (old / "out" / "linked.mp4").symlink_to(outside / "precious.mp4")

    report = prune_videos(store, now=NOW, keep_days=14, runs_root=runs)

    assert (report.removed, report.freed_bytes, report.failed) == (6, 6000, ())
    for pruned in (old, errored):
        assert _names(pruned) == set(KEPT_FILES)
    for whole in (recent, production, last_good, failing):
        assert _names(whole) == {*KEPT_FILES, *VIDEOS}
    assert dict(report.kept) == {
        production.name: "production (revision 1)",
        last_good.name: "last-good",
        failing.name: "judged fail",
    }
    assert (outside / "precious.mp4").read_bytes() == b"keep me"
    assert os.path.islink(old / "out" / "linked.mp4") and os.path.islink(old / "upstream")
    assert len(store.runs(limit=100)) == 6  # records stay

    again = prune_videos(store, now=NOW, keep_days=14, runs_root=runs)
    assert (again.removed, again.freed_bytes, again.kept) == (0, 0, report.kept)


def test_a_run_folder_replaced_by_a_link_is_not_entered(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runs = state / "runs"
    store = Store(state / "state.db")
    outside = tmp_path / "host"
    _folder(outside)
    runs.mkdir(parents=True)
    (runs / "20260101-000000-000001").symlink_to(outside, target_is_directory=True)
    run = record(sha("a"), image("a"), "20260101-000000-000001")
    store.add_run(dataclasses.replace(run, started=OLD, run_dir=str(runs / "20260101-000000-000001")))

    report = prune_videos(store, now=NOW, keep_days=14, runs_root=runs)

    assert report.removed == 0
    assert _names(outside) == {*KEPT_FILES, *VIDEOS}

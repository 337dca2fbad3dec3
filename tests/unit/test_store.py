from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import EXIT_SKIP, StoreError
from harness.model import CaseResult, RunRecord, Verdict, VideoFacts
from harness.store import Store

VIDEO = VideoFacts(path="/runs/r/t2v.mp4", exists=True, decodes=True, frames=9, width=64, height=48, size_bytes=10)
CASES = (
    CaseResult(
        case_id="t2v",
        model="t2v_tiny",
        runner_status="success",
        verdict=Verdict.PASS,
        reasons=(),
        output_path=VIDEO.path,
        generation_time=1.25,
        video=VIDEO,
    ),
    CaseResult(
        case_id="vace",
        model="vace_tiny",
        runner_status="failed",
        verdict=Verdict.FAIL,
        reasons=("runner status failed: boom", "no output video"),
        error="boom",
    ),
)
RECORD = RunRecord(
    run_id="20240101-000000-abc123",
    commit="0" * 40,
    image_id="sha256:" + "1" * 64,
    image_tag="harness/x:000000000000",
    deps_key="d" * 64,
    suite="baseline",
    suite_hash="f" * 16,
    verdict=Verdict.PASS,
    summary="2/2",
    cases=CASES,
    started="2024-01-01T00:00:00+00:00",
    build_seconds=3.5,
    run_seconds=9.0,
    run_dir="/runs/r",
    level="smoke",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state" / "runs.sqlite")
    yield s
    s.close()


def test_round_trip(store: Store) -> None:
    assert store.runs() == [] and store.pointer("last-good") is None
    store.add_run(RECORD)
    assert store.runs() == [RECORD]
    assert store.run(RECORD.run_id) == RECORD
    assert store.run("20240101-000000-a") == RECORD
    assert store.run("nope") is None
    assert store.pointer("last-good") is None


def test_reopen_keeps_runs(tmp_path: Path) -> None:
    first = Store(tmp_path / "runs.sqlite")
    first.add_run(RECORD, move_pointer="last-good")
    first.close()
    again = Store(tmp_path / "runs.sqlite")
    try:
        assert again.run(RECORD.run_id) == RECORD
        assert again.pointer("last-good") is not None
    finally:
        again.close()


def test_pointer_moves_with_the_run(store: Store) -> None:
    store.add_run(RECORD, move_pointer="last-good")
    pointer = store.pointer("last-good")
    assert pointer is not None
    assert (pointer.image_id, pointer.commit, pointer.run_id, pointer.updated) == (
        RECORD.image_id,
        RECORD.commit,
        RECORD.run_id,
        RECORD.started,
    )
    later = dataclasses.replace(
        RECORD, run_id="20240102-000000-def456", image_id="sha256:" + "2" * 64, started="2024-01-02T00:00:00+00:00"
    )
    store.add_run(later, move_pointer="last-good")
    assert store.pointer("last-good").run_id == later.run_id  # type: ignore[union-attr]
    assert [r.run_id for r in store.runs()] == [later.run_id, RECORD.run_id]


def test_failed_insert_leaves_pointer(store: Store) -> None:
    store.add_run(RECORD, move_pointer="last-good")
    clash = dataclasses.replace(RECORD, image_id="sha256:" + "9" * 64)  # same run_id: primary key clash
    with pytest.raises(StoreError, match="could not record run"):
        store.add_run(clash, move_pointer="last-good")
    assert store.pointer("last-good").image_id == RECORD.image_id  # type: ignore[union-attr]


def test_ambiguous_prefix(store: Store) -> None:
    store.add_run(RECORD)
    store.add_run(dataclasses.replace(RECORD, run_id="20240101-000000-abd999"))
    assert store.run("20240101-000000-ab") is None
    assert store.run("20240101-000000-abd") is not None


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    junk = b"this is not a SQLite database\n" * 200
    path.write_bytes(junk)
    with pytest.raises(StoreError, match="cannot open the run store") as info:
        Store(path)
    assert info.value.exit_code == EXIT_SKIP
    assert path.read_bytes() == junk


def test_newer_schema_refused(tmp_path: Path) -> None:
    Store(tmp_path / "runs.sqlite").close()
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.close()
    with pytest.raises(StoreError, match="store schema 99"):
        Store(tmp_path / "runs.sqlite")


def test_releases_get_revisions_and_from_images_in_order(tmp_path: Path) -> None:
    from tests.unit.test_promotion import rel

    store = Store(tmp_path / "state.db")
    first = store.add_release(rel(0, "sha256:a"))
    second = store.add_release(rel(0, "sha256:b"))
    back = store.add_release(rel(0, "sha256:a", action="rollback", based_on=1))
    assert (first.revision, second.revision, back.revision) == (1, 2, 3)
    assert (first.from_image_id, second.from_image_id, back.from_image_id) == ("", "sha256:a", "sha256:b")
    assert (first.based_on, second.based_on, back.based_on) == (1, 2, 1)
    assert store.releases() == [first, second, back]
    assert store.production() == back

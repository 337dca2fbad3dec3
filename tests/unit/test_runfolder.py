"""Run folders whose harness stopped before recording them are recorded as interrupted (no holes);
the kill -9 cases are in tests/integration/test_store_crash.py (unit tests start no processes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.runfolder import OWNER, claim
from harness.store import INTERRUPTED, INTERRUPTED_OLD, Store
from tests.unit.test_store import RECORD

FACTS = {"commit": "a" * 40, "suite": "s", "suite_hash": "h", "contract_hash": "c", "level": "smoke"}


def test_a_run_in_progress_is_left_alone_until_recorded(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20240102-030405-000001"
    lock = claim(run_dir, FACTS)
    store = Store(tmp_path / "state.db")
    assert store.runs() == []  # its owner (this process) holds the lock: in progress
    store.add_run(dataclasses.replace(RECORD, run_id=run_dir.name, run_dir=str(run_dir)))
    lock.release()
    store.close()
    store = Store(tmp_path / "state.db")
    assert [(r.run_id, r.verdict) for r in store.runs()] == [(run_dir.name, RECORD.verdict)]  # its own record stays
    store.close()


def test_a_run_left_unrecorded_by_this_process_is_recorded_after_release(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20240102-030405-000002"
    claim(run_dir, FACTS).release()  # e.g. an error it could not record
    store = Store(tmp_path / "state.db")
    assert [(r.run_id, r.summary) for r in store.runs()] == [(run_dir.name, INTERRUPTED)]
    store.close()


def test_an_old_run_folder_without_owner_is_recorded_and_staging_leftovers_removed(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "20240102-030405-00000a").mkdir(parents=True)
    (runs / "not-a-run").mkdir()
    staging = runs / ".new-20240102-030405-00000b"
    staging.mkdir()
    (staging / OWNER).write_text("{}")
    store = Store(tmp_path / "state.db")
    try:
        [record] = store.runs()
        assert (record.run_id, record.summary, record.commit) == ("20240102-030405-00000a", INTERRUPTED_OLD, "")
        assert store.commits() == set()  # no commit to check for reachability
    finally:
        store.close()
    assert not staging.exists() and (runs / "not-a-run").is_dir()


def test_a_store_that_is_not_a_state_folders_store_records_no_orphans(tmp_path: Path) -> None:
    """A backup copy beside some `runs` folder is never written to by opening it."""
    (tmp_path / "runs" / "20240102-030405-00000c").mkdir(parents=True)
    store = Store(tmp_path / "backup.db")
    assert store.runs() == []
    store.close()


def test_a_claim_in_the_making_is_never_removed(tmp_path: Path) -> None:
    """A parallel probe's claim between creating its lock file and locking it: its staging
    folder was removed by another thread's store opening (the rename then failed, exit 128)."""
    import fcntl
    import os

    runs = tmp_path / "runs"
    making = runs / ".new-20240102-030405-00000e"
    making.mkdir(parents=True)
    (making / f".{OWNER}.new").write_text("")  # created, not yet locked nor named
    locked = runs / ".new-20240102-030405-00000f"
    locked.mkdir()
    fd = os.open(locked / OWNER, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # named and locked, not yet renamed into place
    try:
        Store(tmp_path / "state.db").close()
        assert making.is_dir() and locked.is_dir()
    finally:
        os.close(fd)

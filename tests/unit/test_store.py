from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import EXIT_SKIP, StoreError
from harness.model import CaseResult, Pointer, RunRecord, Verdict, VideoFacts
from harness.store import SCHEMA_VERSION, Store

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
    contract_hash="c" * 16,
)
V1_DUMP = Path(__file__).parent / "data" / "store_v1.sql"


def _last_good(store: Store) -> Pointer:
    pointer = store.pointer("last-good")
    assert pointer is not None, "no last-good pointer"
    return pointer


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
    assert _last_good(store).run_id == later.run_id
    assert [r.run_id for r in store.runs()] == [later.run_id, RECORD.run_id]


def test_failed_insert_leaves_pointer(store: Store) -> None:
    store.add_run(RECORD, move_pointer="last-good")
    clash = dataclasses.replace(RECORD, image_id="sha256:" + "9" * 64)  # same run_id: primary key clash
    with pytest.raises(StoreError, match="could not record run"):
        store.add_run(clash, move_pointer="last-good")
    assert _last_good(store).image_id == RECORD.image_id


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


def test_a_releases_digest_is_recorded_once_its_deploy_pushed_the_image(tmp_path: Path) -> None:
    from tests.unit.fakes import release

    store = Store(tmp_path / "state.db")
    first = store.add_release(release(0, "sha256:a", "c"))
    second = store.add_release(release(0, "sha256:b", "c"))
    assert first.image_digest == second.image_digest == ""
    store.set_image_digest(1, "sha256:" + "d" * 64)
    assert [r.image_digest for r in store.releases()] == ["sha256:" + "d" * 64, ""]  # that revision only
    store.close()
    assert [r.image_digest for r in Store(tmp_path / "state.db").releases()] == ["sha256:" + "d" * 64, ""]


def test_v1_store_is_migrated_and_its_runs_vouch_for_nothing(tmp_path: Path) -> None:
    """A store written by the v1 code (tests/unit/data/store_v1.sql): runs, pointer, releases
    and bisect sessions survive; its runs' contract is unknown, so they answer no key."""
    from harness.model import RunKey

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_DUMP.read_text())
    db.close()
    store = Store(path)
    try:
        runs = store.runs()
        assert [(r.run_id, r.level, r.contract_hash) for r in runs] == [
            ("20240101-000001-c0c0c0", "contract", ""),
            ("20240101-000000-abc123", "baseline", ""),
        ]
        assert runs[1].cases == CASES and runs[1].verdict is Verdict.PASS
        for r in runs:
            assert r.level  # both runs of the v1 store know their level
            for contract in ("", "none", "c" * 16):
                key = RunKey(suite_hash=r.suite_hash, contract_hash=contract, level=r.level, commit=r.commit)
                assert not r.vouches_for(key)
        assert _last_good(store).run_id == "20240101-000000-abc123"
        assert [r.revision for r in store.releases()] == [1]
        assert store.unreachable() == {"1" * 40}
        assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(SCHEMA_VERSION),)
        fresh = dataclasses.replace(RECORD, run_id="20240105-000000-fe0000")
        store.add_run(fresh)  # new runs carry their contract
        assert store.run(fresh.run_id) == fresh
    finally:
        store.close()
    Store(path).close()  # opening a migrated store again changes nothing


def test_pointer_moves_only_forward_when_ancestry_is_given(store: Store) -> None:
    order = ["a", "b", "c"]

    def is_ancestor(old: str, new: str) -> bool:
        return order.index(old) <= order.index(new)

    def passed(sha: str, n: int) -> RunRecord:
        return dataclasses.replace(RECORD, run_id=f"r{n}", commit=sha, image_id=f"sha256:{sha}{n}")

    assert store.add_run(passed("b", 1), move_pointer="last-good", is_ancestor=is_ancestor)
    assert not store.add_run(passed("a", 2), move_pointer="last-good", is_ancestor=is_ancestor)
    assert _last_good(store).commit == "b"
    assert store.add_run(passed("b", 3), move_pointer="last-good", is_ancestor=is_ancestor)  # a rebuild
    assert _last_good(store).image_id == "sha256:b3"
    assert store.add_run(passed("c", 4), move_pointer="last-good", is_ancestor=is_ancestor)
    assert not store.add_run(passed("c", 5))  # no pointer asked: recorded, nothing moves
    assert _last_good(store).run_id == "r4"
    assert len(store.runs()) == 5


def test_many_connections_opening_a_new_store_at_once(tmp_path: Path) -> None:
    """Parallel probes each open the store: switching a new file to WAL raced ("database is
    locked", raised without waiting for the busy timeout)."""
    import threading

    errors: list[BaseException] = []
    for round_ in range(30):
        db = tmp_path / f"state-{round_}.db"
        start = threading.Barrier(12)

        def opener(db: Path = db, start: threading.Barrier = start) -> None:
            start.wait(timeout=30)
            try:
                Store(db).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=opener) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []


def _runs(store: Store, n: int) -> None:
    for i in range(n):
        store.add_run(dataclasses.replace(RECORD, run_id=f"20240101-000000-{i:06x}"))


def test_an_empty_store_file_is_refused_untouched(tmp_path: Path) -> None:
    """A store truncated to 0 bytes used to be recreated empty: history, production and
    last-good silently gone. Only a missing store is created."""
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError) as info:
        Store(path)
    assert info.value.exit_code == EXIT_SKIP
    assert str(path) in str(info.value) and "empty" in str(info.value) and "harness backup" in str(info.value)
    assert path.read_bytes() == b""


def test_an_empty_store_file_beside_a_wal_keeps_the_wal(tmp_path: Path) -> None:
    """SQLite deletes the WAL of a 0-byte database when it opens it: harness must not open it."""
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    wal = tmp_path / "state.db-wal"
    wal.write_bytes(b"w" * 4096)
    with pytest.raises(StoreError, match=r"state\.db-wal"):
        Store(path)
    assert path.read_bytes() == b"" and wal.read_bytes() == b"w" * 4096


def test_a_sqlite_file_that_is_not_a_harness_store_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a harness run store") as info:
        Store(path)
    assert info.value.exit_code == EXIT_SKIP and str(path) in str(info.value)
    assert path.read_bytes() == before


def test_a_missing_store_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    Store(path).close()
    store = Store(path)
    try:
        assert store.runs() == [] and store.integrity() == "ok"
    finally:
        store.close()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no staging file left


def test_garbage_in_the_middle_is_refused_with_how_to_recover(tmp_path: Path) -> None:
    """8,000 random bytes at offset 20,000 gave a raw sqlite3.DatabaseError traceback."""
    import random

    path = tmp_path / "state.db"
    store = Store(path)
    _runs(store, 60)
    store.close()
    assert path.stat().st_size > 28_000
    with path.open("r+b") as fh:
        fh.seek(20_000)
        fh.write(random.Random(13).randbytes(8_000))
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        Store(path)
    text = str(info.value)
    assert info.value.exit_code == EXIT_SKIP
    assert str(path) in text and "damaged" in text and "harness backup" in text and "-wal" in text
    assert path.read_bytes() == before


def test_every_sqlite_error_after_opening_is_a_store_error(tmp_path: Path) -> None:
    from harness.bisect_log import BisectLog

    path = tmp_path / "state.db"
    store = Store(path)
    blog = BisectLog(store)
    store.db.execute("DROP TABLE runs")
    store.db.execute("DROP TABLE releases")
    store.db.execute("DROP TABLE bisects")
    calls: dict[str, Callable[[], object]] = {
        "runs": lambda: store.runs(),
        "run": lambda: store.run("x"),
        "runs_for_commit": lambda: store.runs_for_commit("x"),
        "runs_for_image": lambda: store.runs_for_image("x"),
        "evidence": lambda: store.evidence("x", "y"),
        "commits": lambda: store.commits(),
        "releases": lambda: store.releases(),
        "production": lambda: store.production(),
        "sessions": lambda: blog.sessions(),
    }
    for name, call in calls.items():
        with pytest.raises(StoreError, match=re.escape(str(path))):
            call()
        print("ok", name)
    store.close()


def test_a_full_disk_is_a_store_error_and_records_nothing(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" (here: max_page_count) is infra, with the path."""
    path = tmp_path / "state.db"
    store = Store(path)
    _runs(store, 1)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")
    big = dataclasses.replace(RECORD, run_id="big", summary="x" * 200_000)
    with pytest.raises(StoreError, match="full") as info:
        store.add_run(big, move_pointer="last-good")
    assert info.value.exit_code == EXIT_SKIP and str(path) in str(info.value)
    assert [r.run_id for r in store.runs()] == ["20240101-000000-000000"] and store.pointer("last-good") is None
    store.add_run(dataclasses.replace(RECORD, run_id="small"))  # the store still works after it
    store.close()

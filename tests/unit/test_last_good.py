"""`:last-good` moves only forward, also when several runs record at once (issue 12).

Each writer has its own store connection, as the threads of `run_many` and parallel
bisect probes do. The history is linear: c00 <- c01 <- ... ; `is_ancestor` is the
upstream's ancestry check, injected.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model import RunRecord, Verdict
from harness.naming import LAST_GOOD
from harness.ops.build_and_test import follow_last_good, record_run
from harness.store import Store
from tests.unit.test_store import RECORD

HISTORY = [f"c{i:02d}" for i in range(12)]


def linear(older: str, newer: str) -> bool:
    return HISTORY.index(older) <= HISTORY.index(newer)


def passed(sha: str) -> RunRecord:
    return dataclasses.replace(
        RECORD, run_id=f"run-{sha}", commit=sha, image_id=f"sha256:{sha}", verdict=Verdict.PASS, level="baseline"
    )


def record_in_thread(db: Path, sha: str, is_ancestor: Callable[[str, str], bool], moved: dict[str, bool]) -> None:
    store = Store(db)  # one connection per writer, like separate processes
    try:
        moved[sha] = record_run(store, passed(sha), is_ancestor=is_ancestor)
    finally:
        store.close()


def pointer(db: Path) -> str | None:
    store = Store(db)
    try:
        current = store.pointer(LAST_GOOD)
        return current.commit if current else None
    finally:
        store.close()


def test_an_older_pass_checked_before_a_newer_one_is_written_does_not_move_back(tmp_path: Path) -> None:
    """The interleaving that broke it: the older run checks ancestry, the newer run checks and
    writes, then the older run writes. The older run's check waits until the newer run is done;
    once check and write are one transaction the newer run cannot finish meanwhile, so the wait
    runs out instead (the outcome does not depend on how long it is). The wait only has to
    outlast the newer run's own check and write when nothing blocks it (milliseconds): that is
    the buggy order, which must have finished by then for the test to see it."""
    db = tmp_path / "state.db"
    record_in_thread(db, "c00", linear, {})
    older_checking, newer_done = threading.Event(), threading.Event()

    def slow_for_older(old: str, new: str) -> bool:
        if new == "c01":
            older_checking.set()
            newer_done.wait(timeout=0.5)
        return linear(old, new)

    moved: dict[str, bool] = {}
    older = threading.Thread(target=record_in_thread, args=(db, "c01", slow_for_older, moved))
    older.start()
    assert older_checking.wait(timeout=30)
    record_in_thread(db, "c02", linear, moved)
    newer_done.set()
    older.join(timeout=60)
    assert pointer(db) == "c02", moved
    assert moved == {"c01": True, "c02": True}  # c00 -> c01, then c01 -> c02


def test_many_writers_in_random_order_end_on_the_newest(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    order = HISTORY[:]
    random.Random(12).shuffle(order)
    start = threading.Barrier(len(order))
    moved: dict[str, bool] = {}

    def at_once(old: str, new: str) -> bool:
        return linear(old, new)

    def writer(sha: str) -> None:
        start.wait(timeout=30)
        record_in_thread(db, sha, at_once, moved)

    threads = [threading.Thread(target=writer, args=(sha,)) for sha in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert pointer(db) == HISTORY[-1]
    assert moved[HISTORY[-1]]


@settings(max_examples=20, deadline=None)
@given(order=st.permutations(HISTORY[:6]), writers=st.integers(min_value=1, max_value=4))
def test_any_order_of_passes_ends_on_the_newest_commit(order: list[str], writers: int) -> None:
    """Whatever order the runs finish in, spread over `writers` concurrent writers."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "state.db"
        moved: dict[str, bool] = {}
        chunks = [order[i::writers] for i in range(writers)]

        def writer(shas: list[str]) -> None:
            for sha in shas:
                record_in_thread(db, sha, linear, moved)

        threads = [threading.Thread(target=writer, args=(chunk,)) for chunk in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert pointer(db) == max(order)
        # A run that moved the pointer saw no newer commit already there.
        first_newest = order.index(max(order))
        if writers == 1:
            assert all(not moved[sha] for sha in order[first_newest + 1 :])


def test_the_tag_follows_the_store_when_another_run_moves_it_meanwhile(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    record_in_thread(db, "c01", linear, {})
    tags: list[str] = []

    def tag(image: str) -> None:
        tags.append(image)
        if len(tags) == 1:  # another process records a newer PASS while this one tags
            record_in_thread(db, "c02", linear, {})

    store = Store(db)
    try:
        assert follow_last_good(store, tag) == "sha256:c02"
    finally:
        store.close()
    assert tags == ["sha256:c01", "sha256:c02"]

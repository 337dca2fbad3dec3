"""reconcile: tags repaired, then recorded commits upstream no longer has marked (harness/ops/reconcile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UpstreamUnreachable
from harness.model import Verdict
from harness.ops.promote import promote
from harness.ops.reconcile import mark_reachability, reconcile_all
from harness.store import Store
from tests.unit.fakes import FakeBuilder, FakeUpstream, image, mover, record, sha


def _store(tmp_path: Path, letters: str) -> Store:
    store = Store(tmp_path / "state.db")
    for i, letter in enumerate(letters, 1):
        store.add_run(record(sha(letter), image(letter), f"20260101-00000{i}-aaaaa{i}", Verdict.FAIL))
    return store


def test_commits_upstream_lost_are_marked_unreachable_and_their_runs_kept(tmp_path: Path) -> None:
    store = _store(tmp_path, "abc")
    upstream = FakeUpstream(reachable={sha("a"), sha("c")})
    gone = mark_reachability(store, upstream, lambda: "t")
    assert gone == (sha("b"),)
    assert store.unreachable() == {sha("b")}
    assert len(store.runs(10)) == 3
    assert upstream.events == ["fetch"]  # asked after a fetch, not from a stale mirror


def test_a_commit_found_again_is_reachable_again(tmp_path: Path) -> None:
    store = _store(tmp_path, "ab")
    assert mark_reachability(store, FakeUpstream(reachable={sha("a")}), lambda: "t") == (sha("b"),)
    assert mark_reachability(store, FakeUpstream(reachable={sha("a"), sha("b")}), lambda: "t") == ()
    assert store.unreachable() == set()


def test_gone_commits_come_sorted(tmp_path: Path) -> None:
    store = _store(tmp_path, "dcba")
    assert mark_reachability(store, FakeUpstream(), lambda: "t") == tuple(sha(x) for x in "abcd")


def test_tag_repairs_are_heard_before_upstream_is_asked(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.add_run(record(sha("a"), image("a"), "20260101-000001-aaaaa1"))
    builder = FakeBuilder({"harness-test/x:aaaa": image("a")})
    promote(mover(store, builder, FakeUpstream(), tmp_path), image("a"), reason="", force=False)
    del builder.images["harness-test/x:production"]  # a move killed before its retag
    events: list[str] = []
    upstream = FakeUpstream(reachable={sha("a")}, events=events)
    gone = reconcile_all(mover(store, builder, upstream, tmp_path), repaired=lambda notes: events.extend(notes))
    assert gone == ()
    assert events == [f"repaired harness-test/x:production -> {image('a')[7:19]}", "fetch"]
    assert builder.images["harness-test/x:production"] == image("a")


def test_a_fetch_that_fails_still_leaves_the_repairs_said(tmp_path: Path) -> None:
    store = _store(tmp_path, "a")
    events: list[str] = []
    upstream = FakeUpstream(events=events, fetch_error=UpstreamUnreachable("upstream unreachable"))
    heard: list[list[str]] = []
    with pytest.raises(UpstreamUnreachable):
        reconcile_all(mover(store, FakeBuilder(), upstream, tmp_path), repaired=heard.append)
    assert heard == [[]]  # nothing to repair, and said so before the fetch failed
    assert store.unreachable() == set()  # nothing marked from a mirror that was not fetched

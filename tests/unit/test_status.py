"""status and releases: where production, last-good and upstream stand, after a reconcile (harness/ops/status.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.errors import UpstreamUnreachable
from harness.naming import LAST_GOOD
from harness.ops.promote import Mover, promote
from harness.ops.status import releases, status
from harness.ports import Upstream
from harness.store import Store
from tests.unit.fakes import FakeBuilder, FakeUpstream, image, mover, record, sha


def _production_a(tmp_path: Path) -> tuple[Mover, FakeBuilder]:
    """A promoted; B tested later and last-good; the :production tag lost (a move killed before its retag)."""
    store = Store(tmp_path / "state.db")
    builder = FakeBuilder({"harness-test/x:aaaa": image("a"), "harness-test/x:bbbb": image("b")})
    store.add_run(record(sha("a"), image("a"), "20260101-000001-aaaaa1"))
    m = mover(store, builder, FakeUpstream(refs={"HEAD": sha("c")}), tmp_path)
    promote(m, image("a"), reason="", force=False)
    store.add_run(record(sha("b"), image("b"), "20260101-000002-bbbbb2"), move_pointer=LAST_GOOD)
    builder.tag(image("b"), "harness-test/x", "last-good")
    del builder.images["harness-test/x:production"]
    return m, builder


def test_status_repairs_first_then_says_where_everything_stands(tmp_path: Path) -> None:
    m, builder = _production_a(tmp_path)
    now = status(m, runs=1)
    assert now.repaired == (f"repaired harness-test/x:production -> {image('a')[7:19]}",)
    assert builder.images["harness-test/x:production"] == image("a")
    assert now.production is not None and now.production.image_id == image("a")
    assert now.last_good is not None and now.last_good.image_id == image("b")
    assert now.upstream.head is not None and now.upstream.head.sha == sha("c") and now.upstream.error == ""
    assert [r.run_id for r in now.runs] == ["20260101-000002-bbbbb2"]  # newest first, as many as asked


def _unreachable() -> Upstream:
    raise UpstreamUnreachable("cannot fetch file:///upstream: network is unreachable")


def test_an_unreachable_upstream_is_shown_not_fatal(tmp_path: Path) -> None:
    m, _ = _production_a(tmp_path)
    now = status(dataclasses.replace(m, upstream=_unreachable))
    assert now.upstream.head is None and now.upstream.resolution is None
    assert "network is unreachable" in now.upstream.error
    assert now.production is not None and len(now.runs) == 2


def test_releases_are_listed_oldest_first_after_the_tags_are_repaired(tmp_path: Path) -> None:
    m, builder = _production_a(tmp_path)
    promote(m, image("b"), reason="next", force=False)
    del builder.images["harness-test/x:production"]
    history = releases(m)
    assert [(r.revision, r.image_id, r.reason) for r in history] == [(1, image("a"), ""), (2, image("b"), "next")]
    assert builder.images["harness-test/x:production"] == image("b")

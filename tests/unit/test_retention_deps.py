"""gc's plan for deps images and their delta chains (harness/retention.py plan_deps, issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.release import _gc_lines
from harness.ops.gc import gc
from harness.retention import plan_deps, plan_gc
from harness.services import ContainerInfo, ImageInfo
from harness.store import Store
from tests.unit.test_retention import TwoStatesEngine


def deps(key: str, *, base: str | None = None, tagged: bool = False, n: int = 0) -> ImageInfo:
    """A deps image of key `key` (a letter, made 64 long); `base`: the key it was built FROM."""
    labels = {"harness.stage": "deps", "harness.key": key * 64, "harness.env-key": "e" * 64}
    if base is not None:
        labels["harness.deps-base"] = base * 64 if base else ""
    return ImageInfo(id=f"sha256:{key}{n}", tags=(f"r-deps:{key * 16}",) if tagged else (), labels=labels, created=key)


def commit_on(key: str, *, n: int = 1) -> ImageInfo:
    labels = {"harness.stage": "commit", "harness.commit": f"{n:040d}", "harness.deps-key": key * 64}
    return ImageInfo(id=f"sha256:commit{n}", tags=(f"r:{n:012d}",), labels=labels, created=str(n))


def plan(
    images: list[ImageInfo], *, commits: tuple[ImageInfo, ...] = (), busy: str = ""
) -> tuple[list[str], dict[str, str]]:
    """(ids that go, in order; id -> why kept)."""
    going, kept = plan_deps(images, commit_images=commits, containers=(), busy=busy)
    return [i.id for i in going], {i.id: why for i, why in kept}


def test_a_kept_delta_keeps_its_chain_of_three_and_says_why() -> None:
    a, b, c = deps("a", base=""), deps("b", base="a"), deps("c", base="b", tagged=True)
    going, kept = plan([a, b, c])
    assert going == []
    assert kept == {
        "sha256:b0": f"base of deps {'c' * 12} (delta chain)",
        "sha256:a0": f"base of deps {'b' * 12} (delta chain)",
    }  # a tagged image stays without saying so, as before: it is not listed


def test_a_chain_nothing_keeps_goes_in_one_gc_children_first() -> None:
    a, b, c = deps("a", base=""), deps("b", base="a"), deps("c", base="b")
    for given in ([a, b, c], [c, a, b], [b, c, a]):
        assert plan(given) == (["sha256:c0", "sha256:b0", "sha256:a0"], {})


def test_two_deltas_from_one_base_keep_it_while_either_stays() -> None:
    a, b1, b2 = deps("a", base=""), deps("b", base="a"), deps("d", base="a", tagged=True)
    going, kept = plan([a, b1, b2])
    assert going == ["sha256:b0"] and kept == {"sha256:a0": f"base of deps {'d' * 12} (delta chain)"}
    b2 = deps("d", base="a")  # its tag taken by a later build: now nothing stays above the base
    going, kept = plan([a, b1, b2])
    assert set(going[:2]) == {"sha256:b0", "sha256:d0"} and going[2] == "sha256:a0" and kept == {}


def test_a_commit_image_that_stays_keeps_its_deps_and_their_chain_one_that_goes_frees_them() -> None:
    base, delta = deps("a", base=""), deps("b", base="a")
    going, kept = plan([base, delta], commits=(commit_on("b"),))
    assert going == []
    assert kept == {
        "sha256:b0": f"deps of commit image r:{1:012d}",
        "sha256:a0": f"base of deps {'b' * 12} (delta chain)",
    }
    # Through plan_gc: the commit image goes (beyond --keep 1, nothing else protects it), and the
    # deps it was built FROM go with it in the same gc, the delta before its base.
    newer = commit_on("z", n=2)
    gc_plan = plan_gc(
        commit_images=[commit_on("b"), newer],
        releases=[],
        last_good=None,
        containers=[],
        runs=[],
        keep=1,
        session_alive=lambda s: True,
        dangling=[],
        deps_images=[base, delta],
    )
    assert [i.id for i in gc_plan.remove_images] == ["sha256:commit1"]
    assert [i.id for i in gc_plan.remove_deps] == ["sha256:b0", "sha256:a0"] and gc_plan.keep_deps == ()


def test_a_label_naming_a_missing_image_or_its_own_keeps_nothing_and_breaks_nothing() -> None:
    orphan = deps("c", base="x")  # x: removed by hand, or hidden by the engine (it has children)
    assert plan([orphan]) == (["sha256:c0"], {})
    assert plan([deps("c", base="x", tagged=True)]) == ([], {})
    selfish, a, b = deps("s", base="s"), deps("a", base="b"), deps("b", base="a")  # no build makes these
    going, kept = plan([selfish, a, b])
    assert sorted(going) == ["sha256:a0", "sha256:b0", "sha256:s0"] and kept == {}
    going, kept = plan([selfish, a, deps("b", base="a", tagged=True)])
    assert going == ["sha256:s0"] and kept == {"sha256:a0": f"base of deps {'b' * 12} (delta chain)"}


def test_an_untagged_duplicate_of_a_tagged_base_goes_as_before() -> None:
    # --no-cache rebuilt key a: the new image took the tag. The label names a key, not an image;
    # the tagged one stays anyway, and an engine that records parents does not list the old one
    # if the delta was built FROM it.
    old, new, delta = deps("a", base="", n=0), deps("a", base="", tagged=True, n=1), deps("b", base="a", tagged=True)
    assert plan([old, new, delta]) == (["sha256:a0"], {})


def test_older_deps_images_without_the_label_behave_as_before() -> None:
    old = deps("o")  # no harness.deps-base label
    assert plan([old]) == (["sha256:o0"], {})
    assert plan([old, deps("p", tagged=True)]) == (["sha256:o0"], {})
    busy = "a build of this state is in progress (session host:2)"
    assert plan([old], busy=busy) == ([], {"sha256:o0": busy})
    user = ContainerInfo(id="c", name="shell", status="exited", image_id="sha256:o0", labels={})
    going, kept = plan_deps([old], commit_images=(), containers=(user,), busy="")
    assert going == () and kept == ((old, "used by container shell"),)


class ChainEngine(TwoStatesEngine):
    """TwoStatesEngine with a delta chain of this state's deps images; it refuses, as the engine
    does, to remove an image that another still present names as its base."""

    def __init__(self, mine: str, *, refuse: str = "") -> None:
        super().__init__(mine, "otherstate")
        chain = [deps("a", base=""), deps("b", base="a"), deps("c", base="b"), deps("t", base="a", tagged=True)]
        self.images_ += [
            ImageInfo(id=i.id, tags=i.tags, labels=i.labels | {"harness.state": mine}, created="") for i in chain
        ]
        self.refuse = refuse

    def remove_image(self, ref: str) -> bool:
        gone = next((i for i in self.images_ if i.id == ref), None)
        bases = {i.labels.get("harness.deps-base") for i in self.images_}
        if ref == self.refuse or (gone and gone.labels.get("harness.key") in bases):
            return False  # "image has dependent child images"
        self.images_ = [i for i in self.images_ if i.id != ref]
        return super().remove_image(ref)


def test_gc_removes_a_chain_children_first_and_says_what_it_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "state.db")
    engine = ChainEngine(store.state_id())
    monkeypatch.setattr("harness.ops.gc.session_alive", lambda s: False)
    plan, problems = gc(engine, store, repo="r", keep=1, dry_run=True, state_dir=tmp_path)
    assert [i.id for i in plan.remove_deps] == ["sha256:c0", "sha256:b0"] and engine.removed == []
    lines = _gc_lines(plan, "would remove")
    assert f"would remove untagged deps image (c0, deps {'c' * 12})" in lines
    assert f"kept untagged deps image (a0, deps {'a' * 12}): base of deps {'t' * 12} (delta chain)" in lines
    plan, problems = gc(engine, store, repo="r", keep=1, dry_run=False, state_dir=tmp_path)
    deps_removed = [r for r in engine.removed if r.startswith("sha256:") and r[7] in "abct"]
    assert deps_removed == ["sha256:c0", "sha256:b0"] and not [p for p in problems if "deps" in p]


def test_a_removal_the_engine_refuses_is_said_and_gc_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "state.db")
    engine = ChainEngine(store.state_id(), refuse="sha256:c0")  # e.g. another state's image is built FROM it
    monkeypatch.setattr("harness.ops.gc.session_alive", lambda s: False)
    _, problems = gc(engine, store, repo="r", keep=1, dry_run=False, state_dir=tmp_path)
    refused = "the engine refused (in use or has children); the next gc tries again"
    assert [p for p in problems if "deps" in p] == [
        f"untagged deps image c0 (deps {'c' * 12}): {refused}",
        f"untagged deps image b0 (deps {'b' * 12}): {refused}",
    ]
    assert f"sha256:stage-{store.state_id()}" in engine.removed  # the rest of gc went on

"""gc's retention plan (harness/retention.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.model import RunRecord, Verdict
from harness.ops.gc import gc
from harness.retention import BuildSteps, plan_gc
from harness.services import ContainerInfo, ImageInfo
from harness.store import Store, state_of
from tests.unit.test_promotion import rel


def image(n: int) -> ImageInfo:
    return ImageInfo(id=f"sha256:{n}", tags=(f"r:{n}",), labels={}, created=f"2026-01-{n:02d}")


def record(n: int, image_id: str) -> RunRecord:
    return RunRecord(
        run_id=f"run{n:03d}",
        commit="c",
        image_id=image_id,
        image_tag="",
        deps_key="",
        suite="s",
        suite_hash="h",
        verdict=Verdict.PASS,
        summary="",
        cases=(),
        started=f"{n:03d}",
        build_seconds=0,
        run_seconds=0,
        run_dir=f"/state/runs/run{n:03d}",
    )


def test_keeps_protected_and_newest_removes_the_rest() -> None:
    images = [image(n) for n in range(1, 11)]
    container = ContainerInfo(
        id="c1", name="svc", status="running", image_id="sha256:3", labels={"harness.service": "worker"}
    )
    plan = plan_gc(
        commit_images=images,
        releases=[rel(1, "sha256:1"), rel(2, "sha256:2")],
        last_good="sha256:4",
        containers=[container],
        runs=[],
        keep=2,
        session_alive=lambda s: True,
        dangling=["sha256:x"],
    )
    kept = {i.id: why for i, why in plan.keep_images}
    assert kept["sha256:2"].startswith("production")
    assert kept["sha256:1"].startswith("release revision 1")
    assert kept["sha256:4"] == "last-good"
    assert "container svc" in kept["sha256:3"]
    assert {"sha256:10", "sha256:9"} <= kept.keys()  # the two newest
    assert {i.id for i in plan.remove_images} == {f"sha256:{n}" for n in (5, 6, 7, 8)}
    assert plan.remove_containers == ()  # a service container is never a leftover
    assert plan.remove_dangling == ("sha256:x",)


def test_run_folders_go_with_their_images_beyond_the_newest_runs() -> None:
    images = [image(n) for n in range(1, 4)]
    runs = [record(n, f"sha256:{n % 3 + 1}") for n in range(40, 0, -1)]  # newest first
    plan = plan_gc(
        commit_images=images,
        releases=[],
        last_good=None,
        containers=[],
        runs=runs,
        keep=1,
        session_alive=lambda s: True,
        dangling=[],
    )
    removed = {i.id for i in plan.remove_images}
    assert plan.remove_run_dirs
    for run_dir in plan.remove_run_dirs:
        n = int(run_dir[-3:])
        assert n <= 30 and f"sha256:{n % 3 + 1}" in removed


def test_leftover_test_containers_of_dead_sessions_only() -> None:
    dead = ContainerInfo(
        id="d",
        name="harness-r1",
        status="exited",
        image_id="i",
        labels={"harness.run": "r1", "harness.session": "host:1"},
    )
    alive = ContainerInfo(
        id="a",
        name="harness-r2",
        status="running",
        image_id="i",
        labels={"harness.run": "r2", "harness.session": "host:2"},
    )
    plan = plan_gc(
        commit_images=[],
        releases=[],
        last_good=None,
        containers=[dead, alive],
        runs=[],
        keep=1,
        session_alive=lambda s: s == "host:2",
        dangling=[],
    )
    assert plan.remove_containers == (dead,)


class TwoStatesEngine:
    """A fake engine holding images and containers of two states; it filters by labels as the
    real one does (all given labels must match) and records what was removed."""

    def __init__(self, mine: str, other: str) -> None:
        def labelled(state: str, n: int, **extra: str) -> dict[str, str]:
            return {"harness.state": state, "harness.stage": "commit", "harness.commit": f"{n:012d}" * 3, **extra}

        self.images_ = [
            ImageInfo(id=f"sha256:{s}{n}", tags=(f"{s}:{n:012d}",), labels=labelled(s, n), created=f"2026-01-0{n}")
            for s in (mine, other)
            for n in range(1, 4)
        ]
        self.dangling_ = {
            f"sha256:stage-{s}": {"harness.state": s, "harness.purpose": "build-stage"} for s in (mine, other)
        }
        self.containers_ = [
            ContainerInfo(
                id=f"c-{s}",
                name=f"harness-{s}",
                status="exited",
                image_id=f"sha256:{s}1",
                labels={"harness.state": s, "harness.run": "r", "harness.session": "host:1"},
            )
            for s in (mine, other)
        ]
        self.removed: list[str] = []

    @staticmethod
    def _match(have: dict[str, str], labels: tuple[str, ...]) -> bool:
        return all(
            (have.get(k) == v) if sep else (k in have) for k, sep, v in (label.partition("=") for label in labels)
        )

    def images(self, *labels: str) -> list[ImageInfo]:
        return [i for i in self.images_ if self._match(i.labels, labels)]

    def dangling(self, *labels: str) -> list[str]:
        return [i for i, have in self.dangling_.items() if self._match(have, labels)]

    def containers(self, *labels: str) -> list[ContainerInfo]:
        return [c for c in self.containers_ if self._match(c.labels, labels)]

    def remove_image(self, ref: str) -> bool:
        self.removed.append(ref)
        return True

    def remove_container(self, container_id: str) -> None:
        self.removed.append(container_id)

    def container(self, container_id: str) -> ContainerInfo | None:
        return next((c for c in self.containers_ if c.id.startswith(container_id)), None)

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        older = [ImageInfo(id="sha256:old", tags=(f"{repo}:0123456789ab",), labels={}, created="") for repo in repos]
        return [i for i in self.images_ if any(t.rpartition(":")[0] in repos for t in i.tags)] + older


def test_gc_sees_and_removes_only_its_own_states_images_and_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "state.db")
    mine = store.state_id()
    assert mine == Store(tmp_path / "state.db").state_id() and mine == state_of(tmp_path)  # made once, kept
    engine = TwoStatesEngine(mine, "otherstate")
    monkeypatch.setattr("harness.ops.gc.session_alive", lambda s: False)  # every session is dead
    plan, notes = gc(engine, store, repo=mine, keep=1, dry_run=True, state_dir=tmp_path)
    assert engine.removed == []  # a dry run
    listed = [i.id for i in plan.remove_images] + list(plan.remove_dangling) + [c.id for c in plan.remove_containers]
    assert listed and all(mine in x for x in listed), listed
    assert {i.id for i, _ in plan.keep_images} == {f"sha256:{mine}1", f"sha256:{mine}3"}  # in use, newest
    assert notes == [
        f"1 images of {mine} carry no state label (built before harness recorded states), so gc leaves them: "
        f"{mine}:0123456789ab; remove by hand those no harness folder uses (docker rmi)"
    ]
    gc(engine, store, repo=mine, keep=1, dry_run=False, state_dir=tmp_path)
    assert engine.removed and not [ref for ref in engine.removed if "otherstate" in ref], engine.removed
    assert f"{mine}:000000000002" in engine.removed and f"sha256:stage-{mine}" in engine.removed
    assert "sha256:old" not in engine.removed and f"{mine}:0123456789ab" not in engine.removed


def commit_image(n: int, commit: str, *, tagged: bool) -> ImageInfo:
    tags = (f"r:{commit[:12]}",) if tagged else ()
    return ImageInfo(id=f"sha256:{n}", tags=tags, labels={"harness.commit": commit}, created=f"2026-01-{n:02d}")


def run_of(n: int, commit: str, image_id: str) -> RunRecord:
    return dataclasses.replace(record(n, image_id), commit=commit)


def test_untagged_duplicates_take_no_newest_slot_and_stay_only_for_their_commits_newest_run() -> None:
    a, b = "a" * 40, "b" * 40
    # Commit a built three times (concurrent --rebuild runs): the tag went to the last build.
    images = [commit_image(1, a, tagged=False), commit_image(2, a, tagged=False), commit_image(3, a, tagged=True)]
    images.append(commit_image(4, b, tagged=False))  # b's tag was taken by nothing: gc of b removed it
    runs = [run_of(5, a, "sha256:2"), run_of(4, a, "sha256:3"), run_of(3, a, "sha256:1"), run_of(2, b, "sha256:9")]
    plan = plan_gc(
        commit_images=images,
        releases=[],
        last_good=None,
        containers=[],
        runs=runs,
        keep=5,
        session_alive=lambda s: False,
        dangling=["sha256:stage"],
    )
    kept = {i.id: why for i, why in plan.keep_images}
    assert kept == {
        "sha256:3": "among the 5 newest commit images",
        "sha256:2": f"named by run run005, the newest of commit {a[:12]}",
    }
    assert {i.id for i in plan.remove_images} == {"sha256:1", "sha256:4"}  # older runs' and no run's
    assert plan.remove_dangling == ("sha256:stage",)


def step(name: str, **labels: str) -> ContainerInfo:
    return ContainerInfo(id=f"{name}0000000000000", name=name, status="running", image_id="i", labels=labels)


def test_build_step_containers_go_with_their_dead_build_and_a_live_build_keeps_untagged_images() -> None:
    dead = BuildSteps(journal="/s/builds/1.steps", session="host:1", containers=(step("s1"),))
    live = BuildSteps(journal="/s/builds/2.steps", session="host:2", containers=(step("s2"),))
    untagged = commit_image(1, "a" * 40, tagged=False)
    plan = plan_gc(
        commit_images=[untagged],
        releases=[],
        last_good=None,
        containers=[],
        runs=[],
        keep=5,
        session_alive=lambda s: s == "host:2",
        dangling=["sha256:stage"],
        builds=(dead, live),
    )
    assert plan.remove_step_containers == dead.containers and plan.remove_journals == (dead.journal,)
    assert plan.keep_step_containers == ((live.containers[0], "its build is in progress (session host:2)"),)
    # The live build's own intermediate images are untagged too: none goes while it runs.
    assert plan.remove_images == () and plan.remove_dangling == ()
    assert plan.busy == "a build of this state is in progress (session host:2)"
    assert plan.keep_images == ((untagged, plan.busy),)
    # A build that ended without the engine removing its steps (engine gone) in a process that
    # lives on: its steps are leftovers, and it builds nothing any more.
    ended = dataclasses.replace(live, ended=True)
    plan = plan_gc(
        commit_images=[untagged],
        releases=[],
        last_good=None,
        containers=[],
        runs=[],
        keep=5,
        session_alive=lambda s: True,
        dangling=["sha256:stage"],
        builds=(ended,),
    )
    assert plan.remove_step_containers == ended.containers and plan.remove_journals == (ended.journal,)
    assert plan.busy == "" and plan.remove_images == (untagged,) and plan.remove_dangling == ("sha256:stage",)


def test_gc_reaps_only_the_journaled_step_containers_of_its_own_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "state.db")
    mine = store.state_id()
    engine = TwoStatesEngine(mine, "otherstate")
    engine.containers_ += [
        step("aaaa", **{"harness.state": mine, "harness.stage": "env"}),  # a deps build's RUN step
        step("bbbb"),  # an env build's RUN step: the base image's labels, none of harness's
        step("cccc", **{"harness.state": "otherstate"}),  # a journal cannot hand over another state's
        step("dddd", **{"harness.state": mine, "harness.stage": "env"}),  # in no journal: not a step of ours
    ]
    engine.images_.append(
        ImageInfo(id="sha256:dup", tags=(), labels={"harness.state": mine, "harness.stage": "commit"}, created="9")
    )
    (tmp_path / "builds").mkdir()
    journal = tmp_path / "builds" / "x.steps"
    journal.write_text("host:1\naaaa00000000\nbbbb00000000\ncccc00000000\neeee00000000\n")  # eeee: gone
    monkeypatch.setattr("harness.ops.gc.session_alive", lambda s: False)
    plan, notes = gc(engine, store, repo=mine, keep=1, dry_run=True, state_dir=tmp_path)
    assert [c.name for c in plan.remove_step_containers] == ["aaaa", "bbbb"] and journal.exists()
    # Said, not removed: it looks like a build step of this state, but no journal vouches for it.
    assert [n for n in notes if "no build journal names it" in n] == [
        "container dddd00000000 (running) carries this state's build labels but no build journal names it "
        "(a build step of an older harness, or a container started by hand from an env or deps image); "
        "if no build of this state is running, remove it: docker rm -f dddd00000000"
    ]
    gc(engine, store, repo=mine, keep=1, dry_run=False, state_dir=tmp_path)
    assert {"aaaa0000000000000", "bbbb0000000000000"} <= set(engine.removed)
    assert not {"cccc0000000000000", "dddd0000000000000"} & set(engine.removed)
    assert "sha256:dup" in engine.removed  # an untagged duplicate goes by id
    assert not journal.exists()

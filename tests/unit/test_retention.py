"""gc's retention plan (harness/retention.py)."""

from __future__ import annotations

from harness.model import RunRecord, Verdict
from harness.retention import plan_gc
from harness.services import ContainerInfo, ImageInfo
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

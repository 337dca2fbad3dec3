"""One state's labels on what it builds; a repository of another state refused (ops/isolation.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.context import plan_commit, plan_deps, plan_env
from harness.errors import EXIT_USAGE, UsageError
from harness.ops.isolation import check_repo
from harness.recipe import filter_requirements
from harness.retention import plan_gc
from harness.sample.make import sample_name
from harness.services import ContainerInfo, ImageInfo
from tests.unit.test_context import COMMIT, HOST, RECIPE

OWNED = dataclasses.replace(HOST, state="aaaa", state_dir="/work/a/.harness")


class Repos:
    def __init__(self, images: dict[str, list[ImageInfo]]) -> None:
        self.by_repo = images

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        return [i for repo in repos for i in self.by_repo.get(repo, [])]


def image(tag: str, **labels: str) -> ImageInfo:
    return ImageInfo(id=f"sha256:{tag}", tags=(tag,), labels=labels, created="")


def test_every_planned_image_carries_the_state_and_keys_do_not() -> None:
    env = plan_env(RECIPE, OWNED, "r")
    deps = plan_deps(env, filter_requirements("numpy\n", ()), RECIPE, OWNED, "r")
    commit = plan_commit(
        commit=COMMIT,
        deps=deps,
        recipe=RECIPE,
        host=OWNED,
        repo="r",
        source="file:///up",
        created="",
        overlays=(),
        pip_freeze="",
    )
    for spec in (env, deps, commit):
        labels = dict(spec.labels)
        assert labels["harness.state"] == "aaaa" and labels["harness.state-dir"] == "/work/a/.harness"
    for built in (env, commit):
        assert '"harness.state"="aaaa"' in built.dockerfile.splitlines()[-1]  # the one LABEL line
    assert dict(env.buildargs)["HARNESS_STATE"] == "aaaa"  # the env build's untagged install stage
    # Content keys stay the state's own business: the same recipe keys the same in every state.
    other = plan_env(RECIPE, dataclasses.replace(OWNED, state="bbbb"), "r")
    assert other.key == env.key and dict(other.labels)["harness.state"] == "bbbb"


def test_env_dockerfile_labels_the_install_stage_after_its_last_run() -> None:
    text = (Path(__file__).resolve().parents[2] / "docker" / "env.Dockerfile").read_text()
    install = text[text.index("AS install") : text.index("\nFROM base\n")]
    assert install.rindex("RUN ") < install.index("ARG HARNESS_STATE")  # cache of the RUNs shared
    assert "harness.state=${HARNESS_STATE}" in install and "harness.purpose=build-stage" in install


def test_a_repo_holding_another_states_image_is_refused_with_who_owns_it() -> None:
    theirs = image("r:production", **{"harness.state": "bbbb", "harness.state-dir": "/work/b/.harness"})
    with pytest.raises(UsageError) as refused:
        check_repo(Repos({"r": [theirs]}), "r", "aaaa")
    message = str(refused.value)
    assert refused.value.exit_code == EXIT_USAGE
    assert "image.repo r is used by another harness state" in message
    assert "/work/b/.harness" in message and "bbbb" in message and "r:production" in message
    with pytest.raises(UsageError):  # its env or deps images claim it as well
        check_repo(Repos({"r-deps": [image("r-deps:k", **{"harness.state": "bbbb"})]}), "r", "aaaa")


def test_own_and_unlabelled_images_do_not_block() -> None:
    ours = image("r:production", **{"harness.state": "aaaa"})
    older = image("r:0123456789ab")  # made before harness recorded states
    check_repo(Repos({"r": [ours, older]}), "r", "aaaa")


def test_any_container_of_a_dead_session_is_a_leftover_but_never_a_service() -> None:
    def container(name: str, **labels: str) -> ContainerInfo:
        return ContainerInfo(id=name, name=name, status="exited", image_id="i", labels=labels)

    dead = {"harness.session": "host:1"}
    inspect = container("inspect", **dead, **{"harness.purpose": "inspect"})
    service = container("service", **dead, **{"harness.release": "3"})
    by_hand = container("by-hand")  # e.g. `docker run` of a commit image: no session, not ours to judge
    plan = plan_gc(
        commit_images=[],
        releases=[],
        last_good=None,
        containers=[inspect, service, by_hand],
        runs=[],
        keep=1,
        session_alive=lambda s: False,
        dangling=[],
    )
    assert plan.remove_containers == (inspect,)


def test_sample_names_are_per_folder_stable_and_valid() -> None:
    one, two = sample_name(Path("/x/My Sample!")), sample_name(Path("/y/My Sample!"))
    assert one != two and one == sample_name(Path("/x/My Sample!"))
    assert one.startswith("my-sample-") and sample_name(Path("/x/...")).startswith("sample-")

"""Isolation: one harness state never touches another's tags, images or containers (issue 12).

Two states here are two folders, each with its own harness.yaml and store, on the one engine.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.containers
import pytest

from harness.config import load_config
from harness.errors import EXIT_USAGE
from harness.naming import LAST_GOOD, PRODUCTION
from harness.sample.make import Files, template, write_sample
from tests.conftest import write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
# A prefix of its own, for this session only (a parallel session's cleanup must not remove these
# mid-run); these tests clean up their own below.
PREFIX = f"harness-iso-test/{secrets.token_hex(3)}-"
STATES: list[str] = []  # of the states made here: their untagged build stages go at the end


@pytest.fixture(scope="module", autouse=True)
def _cleanup(engine: Any) -> Iterator[None]:
    yield
    client = engine.client
    mine = {i.id for i in client.images.list() if any(t.startswith(PREFIX) for t in i.tags)}
    for container in client.containers.list(all=True, filters={"label": "harness.state"}):
        if container.attrs.get("Image") in mine:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(PREFIX):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag, force=True)
    for state in STATES:
        for image in client.images.list(filters={"label": f"harness.state={state}", "dangling": True}):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image.id, force=True)


def _project(folder: Path, engine: Any, repo: str, *, upstream: Path | None = None, run_extra: str = "") -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    upstream = upstream or folder / "upstream"
    config = write_config(folder, upstream=upstream, repo=repo, run_extra=run_extra)
    return Project(folder=folder, upstream=upstream, config=config, repo=repo, engine=engine)


def _state(project: Project) -> str:
    store = project.store()
    try:
        STATES.append(store.state_id())
        return STATES[-1]
    finally:
        store.close()


def _build_stage_images(project: Project) -> set[str]:
    images = project.engine.client.images.list(filters={"label": "harness.purpose=build-stage", "dangling": True})
    return {str(i.id) for i in images}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _pass(project: Project, message: str, extra: str = "") -> str:
    wgp = template()["wgp.py"] or ""
    files: Files = template() if not (project.upstream / ".git").exists() else {"wgp.py": f"{wgp}\n# {extra}\n"}
    sha = project.commit(message, files)
    code, output = project.run("build-and-test", sha)
    assert code == 0, output
    return sha


def test_a_second_state_on_the_same_repo_is_refused_before_any_build_or_move(tmp_path: Path, engine: Any) -> None:
    repo = f"{PREFIX}{secrets.token_hex(4)}"
    a = _project(tmp_path / "a", engine, repo)
    b = _project(tmp_path / "b", engine, repo)
    a_sha = _pass(a, "a good")
    assert a.run("promote", a_sha)[0] == 0
    production, last_good = a.image_id(PRODUCTION), a.image_id(LAST_GOOD)
    b_sha = b.commit("b good", {**template(), "README.md": "b\n"})
    code, output = b.run("build-and-test", b_sha)
    assert code == EXIT_USAGE, output
    flat = " ".join(output.split())
    assert f"image.repo {repo} is used by another harness state" in flat
    assert str(a.folder / ".harness") in flat and _state(a) in flat
    assert b.image_id(b_sha[:12]) is None  # nothing built under the shared name
    store = b.store()  # opening it records dead runs as interrupted: a refusal is no run at all
    try:
        assert store.runs(10) == []
    finally:
        store.close()
    assert list((b.folder / ".harness" / "runs").glob("*")) == []
    for command in ("reconcile", "gc", "promote"):
        args = (command, b_sha) if command == "promote" else (command,)
        code, output = b.run(*args)
        assert code == EXIT_USAGE and "used by another harness state" in output, (command, output)
    assert (a.image_id(PRODUCTION), a.image_id(LAST_GOOD)) == (production, last_good)
    assert a.run("reconcile")[1].strip().endswith("consistent: tags match the store")


def test_states_with_distinct_repos_never_touch_each_other(tmp_path: Path, engine: Any) -> None:
    a = _project(tmp_path / "a", engine, f"{PREFIX}{secrets.token_hex(4)}")
    b = _project(tmp_path / "b", engine, f"{PREFIX}{secrets.token_hex(4)}")
    before = _build_stage_images(a)
    a_shas = [_pass(a, "a0"), _pass(a, "a1", "a1"), _pass(a, "a2", "a2")]
    a_stage = _build_stage_images(a) - before  # what A's builds left (the env build's install stage)
    assert a.run("promote", a_shas[0])[0] == 0
    a_images = {sha: a.image_id(sha[:12]) for sha in a_shas}
    a_tags = (a.image_id(PRODUCTION), a.image_id(LAST_GOOD))
    # A leftover test container of A's, from a session that is dead: only A's gc may reap it.
    leftover = engine.client.containers.create(
        a_images[a_shas[2]],
        command=["true"],
        labels={
            "harness.run": "r-leftover",
            "harness.commit": a_shas[2],
            "harness.session": f"{socket.gethostname()}:{_dead_pid()}",
            "harness.state": _state(a),
        },
    )
    try:
        b_shas = [_pass(b, "b0")]
        # The env build's untagged install stage carries B's state (a build arg, env.Dockerfile).
        stage = {"label": ["harness.purpose=build-stage", f"harness.state={_state(b)}"], "dangling": True}
        assert engine.client.images.list(filters=stage)
        b_shas += [_pass(b, "b1", "b1"), _pass(b, "b2", "b2")]
        assert b.run("promote", b_shas[0])[0] == 0
        assert _state(b) != _state(a)
        code, output = b.run("gc", "--keep", "1", "--dry-run")
        assert code == 0, output
        assert "would remove image" in output  # B has something to collect: the listing is real
        a_names = [i[7:19] for i in a_images.values() if i] + [i[7:19] for i in a_stage] + [a.repo, leftover.name]
        assert not [name for name in a_names if name in output], output
        assert b.run("reconcile")[0] == 0
        code, output = b.run("gc", "--keep", "1")
        assert code == 0, output
        assert {sha: a.image_id(sha[:12]) for sha in a_shas} == a_images
        assert (a.image_id(PRODUCTION), a.image_id(LAST_GOOD)) == a_tags
        leftover.reload()  # still there
        # A's own gc reaps its dead session's container and its own old commit image.
        code, output = a.run("gc", "--keep", "1")
        assert code == 0, output
        assert leftover.name in output
        assert a.image_id(a_shas[1][:12]) is None and a.image_id(a_shas[0][:12]) == a_tags[0], output
        assert b.image_id(b_shas[0][:12]) is not None and b.image_id(PRODUCTION) is not None
    finally:
        with contextlib.suppress(docker.errors.APIError):
            leftover.remove(force=True)


@pytest.fixture
def creations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, str]]]:
    """The labels of every container created through docker-py in this process (the real adapter)."""
    seen: list[dict[str, str]] = []
    original = docker.models.containers.ContainerCollection.create

    def create(self: Any, image: str, command: Any = None, **kwargs: Any) -> Any:
        seen.append(dict(kwargs.get("labels") or {}))
        return original(self, image, command, **kwargs)

    monkeypatch.setattr(docker.models.containers.ContainerCollection, "create", create)
    yield seen


def test_every_container_harness_creates_carries_the_labels_gc_reaps_by(
    tmp_path: Path, engine: Any, creations: list[dict[str, str]]
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    repo = f"{PREFIX}{secrets.token_hex(4)}"
    project = _project(tmp_path, engine, repo, run_extra=f"  model_cache: {models}\n")
    (tmp_path / "harness.yaml").write_text(
        (tmp_path / "harness.yaml").read_text()
        + f"deploy:\n  service: worker-cpu\n  project: {repo.replace('/', '-')}\n  health_timeout_s: 120\n"
    )
    sha = project.commit("good", template())
    name = f"{repo.replace('/', '-')}-worker-cpu"
    try:
        for args in (
            ("build-and-test", sha),  # inspection (pip freeze) + the test container
            ("build-and-test", sha, "--level", "smoke"),
            ("weights", "pull", "--ref", sha),
            ("promote", sha, "--deploy"),  # the service container
        ):
            code, output = project.run(*args)
            assert code == 0, (args, output)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            engine.client.containers.get(name).remove(force=True)
    state = _state(project)
    purposes = [
        labels.get("harness.purpose", "service" if "harness.release" in labels else "?") for labels in creations
    ]
    assert {"inspect", "test", "smoke", "weights", "service"} <= set(purposes), creations
    for purpose, labels in zip(purposes, creations, strict=True):
        assert labels.get("harness.state") == state, labels
        assert labels.get("harness.session"), labels
        if purpose in ("test", "smoke", "weights"):
            assert labels.get("harness.run"), labels
        if purpose in ("test", "smoke", "service"):
            assert labels.get("harness.commit") == sha, labels


def test_each_sample_folder_gets_its_own_repo_and_service(tmp_path: Path) -> None:
    first = load_config(write_sample(tmp_path / "one", ca_bundle=None, wheelhouse=None))
    second = load_config(write_sample(tmp_path / "Two Samples", ca_bundle=None, wheelhouse=None))
    again = load_config(write_sample(tmp_path / "one", ca_bundle=None, wheelhouse=None))
    assert first.repo != second.repo and first.deploy.project != second.deploy.project
    assert again.repo == first.repo  # re-running `harness sample` keeps the folder's images its own
    assert first.repo.startswith("harness/sample-")
    shutil.rmtree(tmp_path / "one")  # made again: the images its old state left are not this one's
    remade = load_config(write_sample(tmp_path / "one", ca_bundle=None, wheelhouse=None))
    assert remade.repo != first.repo and remade.repo.startswith(first.repo.rsplit("-", 1)[0])


def test_a_service_of_another_state_is_not_replaced(tmp_path: Path, engine: Any) -> None:
    project_name = f"harness-iso-{secrets.token_hex(4)}"
    deploy = f"deploy:\n  service: worker-cpu\n  project: {project_name}\n  health_timeout_s: 120\n"
    a = _project(tmp_path / "a", engine, f"{PREFIX}{secrets.token_hex(4)}")
    b = _project(tmp_path / "b", engine, f"{PREFIX}{secrets.token_hex(4)}")
    for p in (a, b):
        p.config.write_text(p.config.read_text() + deploy)
    name = f"{project_name}-worker-cpu"
    try:
        a_sha = _pass(a, "a good")
        code, output = a.run("promote", a_sha, "--deploy")
        assert code == 0, output
        serving = engine.client.containers.get(name)
        b_sha = _pass(b, "b good")
        code, output = b.run("promote", b_sha, "--deploy")
        assert code == EXIT_USAGE, output
        flat = " ".join(output.split())
        assert f"the service container {name} belongs to another harness state" in flat
        assert str(a.folder / ".harness") in flat and "own deploy.project" in flat
        still = engine.client.containers.get(name)
        assert still.id == serving.id and still.status == "running"
    finally:
        with contextlib.suppress(docker.errors.APIError):
            engine.client.containers.get(name).remove(force=True)

"""Leftovers (issue 13): build containers of a dead build, untagged duplicate commit images.

A deps build here blocks (the recipe's pre-install waits for a file that never appears). It runs
in a container harness made (issue 18: not a classic builder step), which the engine runs on
when harness is killed. `gc` of the building state reaps it once that process is dead, never
while it lives, and never another state's. (Classic builder steps of env and commit builds are
journaled for gc: tests/unit/test_buildsteps.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from harness.naming import LAST_GOOD
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import Project, unique_repo

pytestmark = pytest.mark.integration
# The step blocks until killed, silently (pre-install runs under `set -x`, the inner shell does
# not): a step that writes output notices its client is gone and the engine removes it itself;
# a silent one (a stalled download, a long compile) goes on.
BLOCK = "sh -c 'while [ ! -e /tmp/harness-never ]; do sleep 1; done'"


def _project(folder: Path, engine: Any, *, block: bool = False) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    upstream = folder / "upstream"
    repo = unique_repo("lo")
    config = write_config(folder, upstream=upstream, repo=repo)
    if block:
        recipe = folder / "recipe" / "recipe.yaml"
        recipe.write_text(recipe.read_text() + f'pre_install:\n  - "{BLOCK}"\n')
    return Project(folder=folder, upstream=upstream, config=config, repo=repo, engine=engine)


def _state(project: Project) -> str:
    store = project.store()
    try:
        return store.state_id()
    finally:
        store.close()


def _harness(
    project: Project, log: Path, *args: str, out: int = subprocess.DEVNULL, engine: str = ""
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DOCKER_HOST": engine} if engine else None
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "harness", "-c", str(project.config), *args], stdout=out, stderr=err, env=env
        )


def _blocked_step(project: Project, proc: subprocess.Popen[bytes], log: Path) -> Any:
    """The running deps build container of `proc` (blocked in the recipe's pre-install), once
    harness has printed its pre-install's first line."""
    state = _state(project)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        running = project.engine.client.containers.list(filters={"label": f"harness.state={state}"})
        steps = [c for c in running if "deps.sh" in " ".join(c.attrs["Config"].get("Cmd") or [])]
        if steps and "harness-never" in log.read_text():  # -v prints every build line
            return steps[0]
        time.sleep(0.5)
    raise AssertionError(f"no blocked build step in 600 s: {log.read_text()[-2000:]}")


@pytest.fixture
def cleanup(engine: Any) -> Iterator[list[Any]]:
    """Processes, proxies, containers and states' untagged images of a test: gone whatever happens."""
    things: list[Any] = []
    yield things
    for thing in things:
        if isinstance(thing, subprocess.Popen):
            with contextlib.suppress(ProcessLookupError):
                thing.kill()
            thing.wait(timeout=30)
    for thing in things:
        if isinstance(thing, contextlib.ExitStack):
            thing.close()
    for thing in things:
        if isinstance(thing, str):
            with contextlib.suppress(docker.errors.APIError):
                engine.client.containers.get(thing).remove(force=True)
    for thing in things:  # the engine fixture removes tagged test images; the untagged go here
        if isinstance(thing, Project):
            untagged = engine.client.api.images(filters={"label": f"harness.state={_state(thing)}", "dangling": True})
            for image in untagged:
                with contextlib.suppress(docker.errors.APIError):
                    engine.client.images.remove(image["Id"])


def test_gc_reaps_the_deps_build_container_of_a_killed_harness_never_a_live_one(
    tmp_path: Path, engine: Any, cleanup: list[Any]
) -> None:
    # A deps build runs in a container harness made (not a classic builder step): killing harness
    # leaves it running, as the engine knows of no client to lose. It carries the session.
    a = _project(tmp_path / "a", engine, block=True)
    b = _project(tmp_path / "b", engine, block=True)
    cleanup += [a, b]
    a_sha = a.commit("a", template())
    b_sha = b.commit("b", template())
    a_proc = _harness(a, tmp_path / "a.log", "build-and-test", a_sha, "-v")
    b_proc = _harness(b, tmp_path / "b.log", "build-and-test", b_sha, "-v")
    cleanup += [a_proc, b_proc]
    a_step = _blocked_step(a, a_proc, tmp_path / "a.log")
    b_step = _blocked_step(b, b_proc, tmp_path / "b.log")
    cleanup += [a_step.id, b_step.id]
    a_proc.send_signal(signal.SIGKILL)
    a_proc.wait(timeout=30)
    a_step.reload()
    assert a_step.status == "running"  # its harness is gone; the engine runs it on

    code, output = a.run("gc", "--dry-run")
    assert code == 0, output
    assert f"would remove leftover container {a_step.name} (running)" in output, output
    assert b_step.name not in output  # another state's: never listed
    a_step.reload()  # a dry run removes nothing
    code, output = b.run("gc", "--dry-run")  # B's harness lives: its container is not a leftover
    assert code == 0, output
    assert b_step.name not in output and a_step.name not in output, output

    code, output = a.run("gc")
    assert code == 0, output
    assert f"removed leftover container {a_step.name}" in output, output
    with pytest.raises(docker.errors.NotFound):
        a_step.reload()
    b_step.reload()
    assert b_step.status == "running" and b_proc.poll() is None  # B's build goes on untouched

    b_proc.send_signal(signal.SIGKILL)
    b_proc.wait(timeout=30)
    code, output = b.run("gc")
    assert code == 0, output
    assert f"removed leftover container {b_step.name}" in output, output
    with pytest.raises(docker.errors.NotFound):
        b_step.reload()


def _duplicates(project: Project, state: str, sha: str) -> set[str]:
    """This state's images of commit `sha` that its commit tag does not name (another may: last-good)."""
    labels = [f"harness.state={state}", f"harness.commit={sha}"]
    images = project.engine.client.images.list(filters={"label": labels})
    return {str(i.id) for i in images if f"{project.repo}:{sha[:12]}" not in i.tags}


def test_concurrent_rebuilds_record_their_own_images_and_gc_reaps_the_untagged_duplicates(
    tmp_path: Path, engine: Any, cleanup: list[Any]
) -> None:
    project = _project(tmp_path, engine)
    cleanup.append(project)
    sha = project.commit("good", template())
    code, first = project.run_json("build-and-test", sha)
    assert code == 0, first
    state = _state(project)
    barrier = threading.Barrier(2)
    results: dict[int, tuple[int, str, str]] = {}

    def run(n: int) -> None:
        log = tmp_path / f"run{n}.log"
        barrier.wait(timeout=60)
        proc = _harness(project, log, "build-and-test", sha, "--rebuild", "--json", out=subprocess.PIPE)
        out, _ = proc.communicate(timeout=900)
        results[n] = (proc.returncode, out.decode(), log.read_text())

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=960)
    records = {}
    for n, (rc, out, err) in results.items():
        assert rc == 0, (out, err)
        records[n] = json.loads(out)
        # The id this run's build printed is the id its record names (not the tag's, re-read later).
        # (rich wraps long lines when writing to a file: the words, not the lines, are compared.)
        built = re.findall(r"commit image \S+ built in [0-9.]+ s \(([0-9a-f]{12})\)", " ".join(err.split()))
        assert built == [records[n]["image_id"][7:19]], (built, records[n])
    ids = {records[1]["image_id"], records[2]["image_id"], first["image_id"]}
    assert len(ids) == 3, ids  # three builds, three images: each record names its own
    tagged = project.image_id(sha[:12])
    assert tagged in ids and _duplicates(project, state, sha) == ids - {tagged}
    # A third run reuses the tag: its record is now the commit's newest, last-good follows it.
    code, third = project.run_json("build-and-test", sha)
    assert code == 0 and third["image_id"] == tagged, third
    assert project.image_id(LAST_GOOD) == tagged

    code, output = project.run("gc", "--dry-run")
    assert code == 0, output
    for image_id in ids - {tagged}:
        assert f"would remove untagged image ({image_id[7:19]})" in output, output
    code, output = project.run("gc")
    assert code == 0, output
    # No duplicate is left: they were named only by older records, and last-good followed the tag.
    assert _duplicates(project, state, sha) == set(), output
    assert project.image_id(sha[:12]) == tagged and project.image_id(LAST_GOOD) == tagged
    for n in (1, 2):
        assert Path(records[n]["run_dir"]).is_dir()  # run folders follow the run-folder policy

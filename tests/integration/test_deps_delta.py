"""Locked, delta-built deps images on the real engine with real PyPI (through the host's CA)."""

from __future__ import annotations

import pytest

from harness.lock import BASE_LABEL, HOW_LABEL, LOCK_LABEL, Lock
from harness.model import Verdict
from harness.sample.make import template
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
FREEZE = "/opt/harness/pip-freeze.txt"


def _deps(project: Project) -> tuple[str, dict[str, str]]:
    """The newest run's deps image: its id and labels."""
    run = project.store().runs()[0]
    tag = f"{project.repo}-deps:{run.deps_key[:16]}"
    image_id = project.engine.images.image_id(tag)
    assert image_id is not None
    return image_id, project.engine.images.image_labels(image_id)


def _imports(project: Project, image: str, module: str) -> bool:
    container = project.engine.client.containers.run(
        image, entrypoint=["python", "-c", f"import {module}"], detach=True, network_disabled=True
    )
    try:
        return int(container.wait()["StatusCode"]) == 0
    finally:
        container.remove(force=True)


def test_a_delta_and_a_clean_build_of_one_lock_hold_the_same_environment(project: Project) -> None:
    first = project.commit("one", template())
    second = project.commit("add pillow", {"requirements.txt": "numpy>=1.26\nav>=12\npillow\n"})
    assert project.run("build-and-test", first)[0] == 0
    _, base = _deps(project)
    code, output = project.run("build-and-test", second)
    assert code == 0, output
    delta_id, delta = _deps(project)
    assert delta[HOW_LABEL] == "delta" and delta[BASE_LABEL] == base["harness.key"], output
    assert "from its base: +pillow" in output
    lock = Lock.parse(delta[LOCK_LABEL])
    assert {"numpy", "av", "pillow"} <= lock.as_dict().keys() and Lock.parse(base[LOCK_LABEL]) != lock
    delta_freeze = project.engine.images.read_file(delta_id, FREEZE)
    # The same requirements built clean (--no-cache: from the env image, whatever exists) under the same key.
    code, output = project.run("build-and-test", second, "--no-cache")
    assert code == 0, output
    clean_id, clean = _deps(project)
    assert clean_id != delta_id and clean[HOW_LABEL] == "clean" and clean[LOCK_LABEL] == delta[LOCK_LABEL]
    assert project.engine.images.read_file(clean_id, FREEZE) == delta_freeze
    assert [r.verdict for r in project.store().runs()] == [Verdict.PASS] * 3  # the same suite passes on both
    # The delta's layer holds the difference only: far smaller than the clean one.
    delta_layer = project.engine.client.images.get(delta_id).history()[0]["Size"]
    clean_layer = project.engine.client.images.get(clean_id).history()[0]["Size"]
    assert delta_layer * 3 < clean_layer, (delta_layer, clean_layer)


def test_a_requirement_removed_is_a_package_removed_in_the_delta(project: Project) -> None:
    first = project.commit("one", template())
    second = project.commit("drop av", {"requirements.txt": "numpy>=1.26\n"})
    assert project.run("build-and-test", first)[0] == 0
    code, output = project.run("build-and-test", second)
    assert code == 1, output  # upstream still imports av: the commit's own failure
    image_id, labels = _deps(project)
    assert labels[HOW_LABEL] == "delta" and "-av" in output
    assert "av" not in Lock.parse(labels[LOCK_LABEL]).as_dict()
    assert not _imports(project, image_id, "av") and _imports(project, image_id, "numpy")


def test_an_unsatisfiable_requirement_set_is_the_commits_failure_with_uvs_message(project: Project) -> None:
    sha = project.commit("conflict", {**template(), "requirements.txt": "numpy>=1.26\nnumpy<1.20\nav>=12\n"})
    code, output = project.run("build-and-test", sha)
    assert code == 1, output
    [run] = project.store().runs()
    assert run.verdict is Verdict.FAIL
    assert "its requirements cannot be installed" in run.summary and "No solution found" in run.summary, run.summary
    assert "numpy" in run.summary
    assert project.image_id(sha[:12]) is None  # nothing built on it

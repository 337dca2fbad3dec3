"""docker/harness.Dockerfile on the real engine: the image compose.yaml's `watch` service runs.

Built from a copy of the project (the host's CA bundle as docker/ca.pem, as the Dockerfile's
header tells a user behind a TLS-intercepting proxy), never from the checkout itself, which
would then hold the bundle.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import docker
import pytest

from harness.adapters.engine import Engine
from harness.config import PROJECT_ROOT
from tests.conftest import BASE_IMAGE, HOST_CA
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration

CONTEXT_FILES = ("pyproject.toml", "README.md", "compose.yaml", ".dockerignore")
CONTEXT_DIRS = ("harness", "docker", "images")
LABEL = "harness.commit"  # what the engine fixture's teardown sweeps containers by


def _context(folder: Path) -> Path:
    for name in CONTEXT_FILES:
        shutil.copy2(PROJECT_ROOT / name, folder / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "ca.pem")
    for name in CONTEXT_DIRS:
        shutil.copytree(PROJECT_ROOT / name, folder / name, ignore=skip)
    if HOST_CA.is_file():
        shutil.copy2(HOST_CA, folder / "docker" / "ca.pem")
    return folder


def _run(engine: Engine, tag: str, *command: str, entrypoint: str | None = None) -> str:
    out = engine.client.containers.run(
        tag, list(command), entrypoint=entrypoint, remove=True, labels={LABEL: "harness-image"}
    )
    assert isinstance(out, bytes)
    return out.decode()


def test_the_harness_image_builds_and_runs_harness(engine: Engine, tmp_path: Path) -> None:
    tag = f"{unique_repo('harness-image')}:test"
    context = _context(tmp_path)
    try:
        engine.client.images.build(
            path=str(context),
            dockerfile="docker/harness.Dockerfile",
            tag=tag,
            buildargs={"BASE": BASE_IMAGE},
            rm=True,
            forcerm=True,
        )
        assert "Usage: harness" in _run(engine, tag, "--help")  # the entry point; exit 0 or ContainerError
        # harness finds compose.yaml, docker/ and images/ beside its package: the tree is whole.
        probe = (
            "import harness.config as c; r = c.PROJECT_ROOT; "
            "print(r, *(int((r / p).is_file()) for p in "
            "('compose.yaml', 'docker/env.Dockerfile', 'docker/commit.Dockerfile', 'images/cpu/recipe.yaml')))"
        )
        assert _run(engine, tag, "-c", probe, entrypoint="python").split() == ["/usr/src/harness", "1", "1", "1", "1"]
        assert _run(engine, tag, "--version", entrypoint="git").startswith("git version")
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.client.images.remove(tag, force=True)

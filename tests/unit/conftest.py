"""Unit tests are hermetic: no Docker engine, no child processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import docker
import pytest

HERMETIC = "unit tests are hermetic"


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(HERMETIC)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(docker, "from_env", _refuse)
    monkeypatch.setattr(docker, "DockerClient", _refuse)
    monkeypatch.setattr(subprocess, "Popen", _refuse)
    yield

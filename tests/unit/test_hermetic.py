from __future__ import annotations

import subprocess

import docker
import pytest


def test_guard_refuses_docker_and_subprocess() -> None:
    with pytest.raises(RuntimeError, match="hermetic"):
        docker.from_env()
    with pytest.raises(RuntimeError, match="hermetic"):
        docker.DockerClient()
    with pytest.raises(RuntimeError, match="hermetic"):
        subprocess.run(["true"], check=False)

"""compose.yaml parsing (harness/compose.py) on the repository's own file and small ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compose import load_service
from harness.config import PROJECT_ROOT
from harness.errors import ConfigError

COMPOSE = PROJECT_ROOT / "compose.yaml"


def test_worker_reserves_a_gpu_and_the_cpu_profile_does_not() -> None:
    env = {"HARNESS_IMAGE": "sha256:abc", "HARNESS_MODEL_CACHE": "/models"}
    gpu = load_service(COMPOSE, "worker", env)
    cpu = load_service(COMPOSE, "worker-cpu", env)
    assert gpu.gpu and not cpu.gpu
    for spec in (gpu, cpu):
        assert spec.image == "sha256:abc"
        assert spec.mounts[0].source == "/models" and spec.mounts[0].target == "/opt/wan2gp/ckpts"
        assert spec.health is not None and spec.health.interval_s == 2 and spec.health.start_period_s == 300
        assert spec.restart == "unless-stopped" and spec.command == ("--serve",)


def test_defaults_apply_without_environment() -> None:
    spec = load_service(COMPOSE, "worker", {})
    assert spec.image == "harness/wan2gp:production"
    assert spec.mounts[0].source == str((PROJECT_ROOT / "ckpts").resolve())


def test_unknown_service_and_bad_duration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"services\.nope: no such service; defined: worker, worker-cpu"):
        load_service(COMPOSE, "nope", {})
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  w:\n    image: x\n    healthcheck:\n      test: [CMD, 'true']\n      interval: soon\n")
    with pytest.raises(ConfigError, match=r"services\.w\.healthcheck\.interval"):
        load_service(bad, "w", {})
    bad.write_text("services:\n  w:\n    image: x\n    healthcheck:\n      test: true\n")
    with pytest.raises(ConfigError, match=r"services\.w\.healthcheck\.test"):
        load_service(bad, "w", {})

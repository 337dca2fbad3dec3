"""compose.yaml parsing (harness/compose.py) on the repository's own file and small ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compose import load_service
from harness.config import PROJECT_ROOT
from harness.errors import ConfigError
from harness.yamlio import load_yaml_mapping

COMPOSE = PROJECT_ROOT / "compose.yaml"
UNIT = PROJECT_ROOT / "docker" / "harness-watch.service"


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


def test_watch_drives_the_engine_through_its_socket_with_host_paths_kept() -> None:
    env = {"HARNESS_CONFIG_DIR": "/srv/h/conf", "HARNESS_STATE_DIR": "/srv/h/state"}
    gpu, cpu = load_service(COMPOSE, "watch", env), load_service(COMPOSE, "watch-cpu", env)
    assert gpu.gpu and not cpu.gpu
    for spec in (gpu, cpu):
        assert spec.image == "harness/harness:latest"
        assert spec.command == ("-c", "/srv/h/conf/harness.yaml", "watch")
        assert spec.restart == "unless-stopped"
        assert spec.labels == (("harness.service", "watch"),)
        # The engine reads bind sources on the host: harness's paths must mean the same inside.
        assert {(m.source, m.target, m.read_only) for m in spec.mounts} == {
            ("/var/run/docker.sock", "/var/run/docker.sock", False),
            ("/srv/h/conf", "/srv/h/conf", True),
            ("/srv/h/state", "/srv/h/state", False),
        }
        assert spec.environment == ()  # secrets come from an override, never from this file
    default = load_service(COMPOSE, "watch", {})
    assert default.command == ("-c", "/etc/harness/harness.yaml", "watch")
    assert {m.source for m in default.mounts} == {"/var/run/docker.sock", "/etc/harness", "/var/lib/harness"}


def test_watch_services_only_start_when_asked_for() -> None:
    services = load_yaml_mapping(COMPOSE)["services"]
    assert services["watch"]["profiles"] == ["watch"] and services["watch-cpu"]["profiles"] == ["watch-cpu"]
    assert "profiles" not in services["worker"]  # `docker compose up -d worker` as before
    assert services["watch"]["build"] == {"context": ".", "dockerfile": "docker/harness.Dockerfile"}
    assert (PROJECT_ROOT / services["watch"]["build"]["dockerfile"]).is_file()


def _unit() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_the_systemd_unit_runs_the_compose_command_and_stops_gently() -> None:
    unit, compose = _unit(), load_service(COMPOSE, "watch", {})
    assert unit["ExecStart"].split() == ["/opt/harness/bin/harness", *compose.command]
    assert unit["Restart"] == "on-failure" and unit["KillSignal"] == "SIGTERM"
    assert int(unit["TimeoutStopSec"]) >= 120  # time to abandon a step and remove its container
    assert unit["SuccessExitStatus"] == "143"  # harness's exit on SIGTERM is a clean stop
    assert unit["RestartPreventExitStatus"] == "128"  # a config error does not loop
    assert unit["StateDirectory"] == "harness"  # /var/lib/harness, compose's HARNESS_STATE_DIR default


def test_unknown_service_and_bad_duration(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"services\.nope: no such service; defined: worker, worker-cpu, watch, watch-cpu"
    ):
        load_service(COMPOSE, "nope", {})
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  w:\n    image: x\n    healthcheck:\n      test: [CMD, 'true']\n      interval: soon\n")
    with pytest.raises(ConfigError, match=r"services\.w\.healthcheck\.interval"):
        load_service(bad, "w", {})
    bad.write_text("services:\n  w:\n    image: x\n    healthcheck:\n      test: true\n")
    with pytest.raises(ConfigError, match=r"services\.w\.healthcheck\.test"):
        load_service(bad, "w", {})

"""`fleet:` in harness.yaml: the Swarm manager, the registry, the shared results path, GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError
from harness.fleetconfig import FleetConfig, UpdatePolicy
from harness.plan import load_plan
from tests.unit.test_config import write

FLEET = """\
fleet:
  manager: tcp://10.0.0.1:2375
  registry: 127.0.0.1:5000
  results: shared
"""


def _fleet(tmp_path: Path, text: str) -> FleetConfig | None:
    (tmp_path / "shared").mkdir(exist_ok=True)
    return load_config(write(tmp_path, top=text)).fleet


def test_without_the_section_everything_stays_local(tmp_path: Path) -> None:
    assert load_config(write(tmp_path)).fleet is None


def test_defaults_and_the_node_registry_following_the_registry(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, FLEET)
    assert fleet == FleetConfig(
        manager="tcp://10.0.0.1:2375",
        registry="127.0.0.1:5000",
        node_registry="127.0.0.1:5000",
        results=(tmp_path / "shared").resolve(),
    )
    assert fleet.gpu_resource == "NVIDIA-GPU" and fleet.service == "harness-worker" and fleet.replicas == 1
    assert fleet.reschedule == 1
    assert fleet.update == UpdatePolicy(order="start-first", parallelism=1, monitor_s=30.0, failure_action="rollback")


def test_every_key_written(tmp_path: Path) -> None:
    text = FLEET + (
        "  node_registry: 10.99.0.1:5000\n  gpu_resource: GPU\n  service: worker\n  replicas: 3\n  reschedule: 0\n"
        "  update:\n    order: stop-first\n    parallelism: 2\n    monitor_s: 5\n    failure_action: pause\n"
    )
    fleet = _fleet(tmp_path, text)
    assert fleet is not None and fleet.node_registry == "10.99.0.1:5000" and fleet.gpu_resource == "GPU"
    assert (fleet.service, fleet.replicas, fleet.reschedule) == ("worker", 3, 0)
    assert fleet.update == UpdatePolicy(order="stop-first", parallelism=2, monitor_s=5.0, failure_action="pause")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("fleet:\n  registry: r:5000\n  results: shared\n", "fleet.manager: required, missing"),
        (
            FLEET.replace("tcp://10.0.0.1:2375", "10.0.0.1:2375"),
            "fleet.manager: '10.0.0.1:2375' is not unix:///path, tcp://host:port or ssh://user@host",
        ),
        (
            FLEET.replace("127.0.0.1:5000", "http://127.0.0.1:5000"),
            "fleet.registry: 'http://127.0.0.1:5000' is not host[:port] (a registry, no scheme, no path)",
        ),
        (FLEET.replace("results: shared", "results: nowhere"), "fleet.results: 'nowhere' is not a folder"),
        (FLEET + "  gpus: 3\n", "fleet.gpus: unknown key; allowed: gpu_resource, manager"),
        (FLEET + "  replicas: 0\n", "fleet.replicas: 0 out of range 1..1000"),
        (FLEET + "  reschedule: 9\n", "fleet.reschedule: 9 out of range 0..5"),
        (FLEET + "  update:\n    order: rolling\n", "fleet.update.order: 'rolling'; allowed: start-first, stop-first"),
        (FLEET + "  update:\n    failure_action: continue\n", "'continue'; allowed: rollback, pause"),
        (FLEET + "  service: -worker\n", "fleet.service: '-worker' is not a Swarm service name"),
        ("fleet: swarm\n", "fleet: must be a mapping"),
    ],
)
def test_errors_name_the_key_the_value_and_what_is_allowed(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        _fleet(tmp_path, text)
    assert needle in str(info.value)


def test_run_folders_live_under_the_shared_results_path_on_a_fleet(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    local = load_config(write(tmp_path))
    fleet = load_config(write(tmp_path, top=FLEET))
    assert local.runs_dir == local.state_dir / "runs"
    assert fleet.runs_dir == (tmp_path / "shared").resolve() / "runs"
    assert load_plan(fleet, ref="HEAD", level="baseline").runs_dir == fleet.runs_dir

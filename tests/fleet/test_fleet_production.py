"""Production on a real 3-node Swarm: promote rolls the 3-replica service to a digest and waits;
a broken image fails its health check, Swarm rolls it back by itself, harness records the
automatic rollback and the old digest serves."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli.app import app
from harness.config import load_config
from harness.store import Store
from tests.fleet.project import fleet_project
from tests.fleet.swarm import Cluster

pytestmark = pytest.mark.integration


# The worker as compose.yaml's, without a GPU reservation (the fleet's fake GPUs carry no CUDA)
# and with a short start period: the broken image's worker never reports ready.
def worker_compose(start_period_s: int) -> str:
    """compose.yaml's worker with a health check of `start_period_s` (the bench takes this too)."""
    return f"""\
services:
  worker:
    image: ${{HARNESS_IMAGE:-x}}
    command: ["--serve"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/harness-worker-ready"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: {start_period_s}s
"""


def _cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, result.output


def _serving(cluster: Cluster, service: str) -> set[str]:
    with closing(cluster.client()) as manager:
        services: list[Any] = manager.services.list(filters={"name": service})
        tasks = services[0].tasks(filters={"desired-state": "running"})
    return {t["Spec"]["ContainerSpec"]["Image"] for t in tasks if t["Status"]["State"] == "running"}


def test_promote_rolls_out_and_a_broken_image_is_rolled_back_by_swarm(tmp_path: Path, cluster: Cluster) -> None:
    config, shas = fleet_project(tmp_path, cluster)
    (tmp_path / "compose.yaml").write_text(worker_compose(4))
    service = f"{cluster.tag}-worker"
    with config.open("a") as out:
        out.write(f"  service: {service}\n  replicas: 3\n  update:\n    order: stop-first\n    monitor_s: 5\n")
        out.write(f"deploy:\n  compose_file: {tmp_path / 'compose.yaml'}\n  health_timeout_s: 120\n")
    good, broken = shas[0], shas[-1]
    assert _cli(config, "build-and-test", good)[0] == 0
    assert _cli(config, "build-and-test", broken)[0] == 1
    try:
        code, output = _cli(config, "promote", good, "--deploy")
        assert code == 0, output
        first = _serving(cluster, service)
        assert len(first) == 1 and "@sha256:" in next(iter(first))
        code, output = _cli(config, "promote", broken, "--deploy", "--force", "--reason", "test a rollout")
        assert code == 1 and "the orchestrator had already put it back" in output, output
        assert _serving(cluster, service) == first  # the old digest serves
        cfg = load_config(config)
        store = Store(cfg.state_dir / "state.db", runs_dir=cfg.runs_dir)
        try:
            actions = [(r.revision, r.action) for r in store.releases()]
        finally:
            store.close()
        assert actions == [(1, "promote"), (2, "promote"), (3, "auto-rollback")]
    finally:
        with closing(cluster.client()) as manager:
            left: list[Any] = manager.services.list(filters={"name": service})
            for found in left:
                found.remove()

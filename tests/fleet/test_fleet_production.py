"""Production on a real 3-node Swarm: promote rolls the 3-replica service to a digest and waits;
a broken image fails its health check, Swarm rolls it back by itself, harness records the
automatic rollback and the old digest serves; each release records its digest. reconcile says the
service is in line; moved to another digest behind harness's back, reconcile says so (exit 125)
and `reconcile --deploy` rolls it back to production's digest."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest
from typer.testing import CliRunner

from harness.adapters.engine.connection import Connection
from harness.adapters.engine.registry import push
from harness.adapters.engine.swarm_service import SwarmService
from harness.cli.app import app
from harness.compose import Health
from harness.config import Config, load_config
from harness.errors import EXIT_SKIP
from harness.fleet import digest_ref, ref_digest
from harness.model import Release
from harness.ops.fleet_deploy import FleetDeployer
from harness.store import Store
from tests.fleet.project import fleet_config, fleet_project
from tests.fleet.swarm import Cluster
from tests.unit.fakes import SERVICE_SPEC, release

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


def _replicas_on(cluster: Cluster, service: str, image: str, replicas: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with closing(cluster.client()) as manager:
            found: list[Any] = manager.services.list(filters={"name": service})
            tasks = found[0].tasks(filters={"desired-state": "running"})
        on = [t for t in tasks if t["Status"]["State"] == "running" and t["Spec"]["ContainerSpec"]["Image"] == image]
        if len(on) >= replicas:
            return
        time.sleep(1)
    raise AssertionError(f"{service}: fewer than {replicas} tasks run {image} after 60 s")


def _releases(cfg: Config) -> list[Release]:
    store = Store(cfg.state_dir / "state.db", runs_dir=cfg.runs_dir)
    try:
        return store.releases()
    finally:
        store.close()


def _drift(cluster: Cluster, host: docker.DockerClient, cfg: Config, service: str, image_id: str) -> str:
    """Roll `service` by hand (docker-py, not harness) to a healthy image of another digest: production's
    image with one more label, pushed to the registry. Its digest."""
    tag = f"{cfg.repo}:drift"
    dockerfile = f"FROM {image_id}\nLABEL harness.test.drift={cluster.tag}\n"
    built, _ = host.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True, labels={"harness.test": "swarm"}
    )
    try:
        conn = Connection(dict(os.environ))
        digest = push(conn, str(built.id), registry=cluster.registry_host, repo=cfg.repo, tag="drift")
    finally:
        host.images.remove(tag)
    with closing(cluster.client()) as manager:
        found: Any = manager.services.get(service)  # type: ignore[no-untyped-call]
        found.update(image=digest_ref(cluster.registry_nodes, cfg.repo, digest))
    return digest


def test_promote_rolls_out_and_a_broken_image_is_rolled_back_by_swarm(
    tmp_path: Path, cluster: Cluster, host: docker.DockerClient
) -> None:
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
        releases = _releases(cfg)
        assert [(r.revision, r.action) for r in releases] == [(1, "promote"), (2, "promote"), (3, "auto-rollback")]
        # Each records its digest; the automatic rollback the one Swarm put back, revision 1's.
        good_digest = ref_digest(next(iter(first)))
        assert [r.image_digest for r in releases] == [good_digest, releases[1].image_digest, good_digest]
        assert releases[1].image_digest.startswith("sha256:") and releases[1].image_digest != good_digest

        _replicas_on(cluster, service, next(iter(first)), 3)  # the task Swarm put back may still be starting
        code, output = _cli(config, "reconcile")
        assert code == 0 and f"fleet: service {service} runs production (revision 3" in output, output
        drifted = _drift(cluster, host, cfg, service, releases[0].image_id)
        code, output = _cli(config, "reconcile")
        assert code == EXIT_SKIP, output
        assert f"runs digest {drifted[7:19]}" in output and "production is revision 3" in output, output
        code, output = _cli(config, "reconcile", "--deploy")
        assert code == 0 and "repaired: service" in output, output
        assert _serving(cluster, service) == first  # production's digest serves again
    finally:
        with closing(cluster.client()) as manager:
            left: list[Any] = manager.services.list(filters={"name": service})
            for found in left:
                found.remove()


# A worker that stays up but whose health check has not passed: within its start period a failing
# probe does not count, so the container stays `starting` (health) for the whole test.
UNREADY = dataclasses.replace(
    SERVICE_SPEC,
    command=("sleep", "300"),
    health=Health(test=("CMD", "false"), interval_s=1.0, timeout_s=1.0, retries=1, start_period_s=300.0),
)
FIRST = release(1, "", "0" * 40)


class _Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def _states(cluster: Cluster, service: str) -> list[str]:
    with closing(cluster.client()) as manager:
        services: list[Any] = manager.services.list(filters={"name": service})
        tasks = services[0].tasks(filters={"desired-state": "running"}) if services else []
    return sorted(str(t["Status"]["State"]) for t in tasks)


def test_a_task_stays_starting_until_its_health_check_passes(cluster: Cluster, image_ref: str, tmp_path: Path) -> None:
    """A new service's rollout converges only on healthy tasks (Swarm holds a task `starting` until
    its health check passes: docs/fleet.md): a first deploy whose check never passes times out."""
    name = f"{cluster.tag}-unready"
    fleet = fleet_config(cluster, tmp_path, service=name, replicas=2)
    swarm = SwarmService(conn=Connection({**os.environ, "DOCKER_HOST": cluster.manager_url}), fleet=fleet)
    deployer = FleetDeployer(
        service=swarm, spec=UNREADY, name=name, publish=lambda r: image_ref, timeout_s=10.0, reporter=_Quiet()
    )
    try:
        report = deployer.deploy(FIRST)
        assert not report.healthy and "timed out waiting for the rollout; 0/2 tasks on it" in report.detail, report
        deadline = time.monotonic() + 60  # a node still pulling the image says `preparing` first
        while (states := _states(cluster, name)) != ["starting", "starting"] and time.monotonic() < deadline:
            time.sleep(1)
        assert states == ["starting", "starting"]  # up, not yet healthy: not running
        assert swarm.view(image_ref).running == 0
    finally:
        with closing(cluster.client()) as manager:
            left: list[Any] = manager.services.list(filters={"name": name})
            for found in left:
                found.remove()

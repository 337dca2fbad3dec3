"""The Swarm fixture itself: 3 engines in network namespaces form a ready Swarm with a fake GPU
each; an image built on the host reaches every node by digest through the test registry; a
replicated job places one task per GPU and writes to the shared results path; a killed engine's
task never completes; and teardown, even of a setup that failed halfway, leaves nothing.

The engine-loss test kills node 3: it stays the module's last test.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.services import Service
from docker.types import Mount, Resources, RestartPolicy, ServiceMode

from harness.adapters.engine.connection import Connection
from harness.adapters.engine.registry import push
from harness.errors import RunInfraError
from tests.fleet.conftest import unavailable
from tests.fleet.hostnet import ip
from tests.fleet.swarm import GPU_KIND, Cluster, NodeFailed, swarm_cluster, swarm_unavailable

pytestmark = pytest.mark.integration
Task = dict[str, Any]


def _tasks(service: Service) -> list[Task]:
    listing: Callable[[], list[Task]] = service.tasks  # the stubs leave the services API untyped
    return listing()


def _remove(service: Service) -> None:
    remove: Callable[[], None] = service.remove
    remove()


def _wait(service: Service, done: Callable[[list[Task]], bool], what: str, timeout_s: float = 120) -> list[Task]:
    deadline = time.monotonic() + timeout_s
    while not done(tasks := _tasks(service)):
        if time.monotonic() > deadline:
            seen = [(t["NodeID"][:8], t["Status"]["State"], t["DesiredState"], t["Status"].get("Err")) for t in tasks]
            pytest.fail(f"{what}: not within {timeout_s:.0f}s; tasks: {seen}")
        time.sleep(0.3)
    return tasks


def _job(manager: docker.DockerClient, name: str, image: str, command: list[str], **kwargs: Any) -> Service:
    """A replicated job whose every task reserves one GPU and runs once (no restart)."""
    replicas = kwargs.pop("replicas", 1)
    create: Callable[..., Service] = manager.services.create
    return create(
        image,
        command=command,
        name=name,
        mode=ServiceMode("replicated-job", replicas=replicas, concurrency=replicas),
        resources=Resources(generic_resources={GPU_KIND: 1}),
        restart_policy=RestartPolicy(condition="none"),
        **kwargs,
    )


def test_a_setup_that_fails_halfway_leaves_nothing(tmp_path: Path) -> None:
    """The bridge, the registry and both namespaces exist when the engines fail to start: all go
    (a leftover would raise LeftoverError instead of the NodeFailed expected here)."""
    if reason := swarm_unavailable():
        unavailable(reason)
    with (
        pytest.raises(NodeFailed, match="node1's dockerd exited") as failed,
        swarm_cluster(tmp_path, nodes=2, dockerd_flags=["--no-such-flag"]),
    ):
        pass
    log = Path(str(failed.value).rpartition("its log: ")[2])
    assert "unknown flag: --no-such-flag" in log.read_text()


def test_three_engines_in_namespaces_form_a_ready_swarm(cluster: Cluster) -> None:
    with closing(cluster.client()) as manager:
        nodes = {n.attrs["Description"]["Hostname"]: n.attrs for n in manager.nodes.list()}
    assert sorted(nodes) == ["node1", "node2", "node3"]
    for node in cluster.nodes:
        attrs = nodes[node.hostname]
        assert (attrs["Status"]["State"], attrs["Status"]["Addr"]) == ("ready", node.ip)
        assert attrs["Spec"]["Role"] == ("manager" if node.number == 1 else "worker")
        gpus = attrs["Description"]["Resources"]["GenericResources"]
        assert [g["NamedResourceSpec"] for g in gpus] == [{"Kind": GPU_KIND, "Value": gpu} for gpu in node.gpus]
        # The pid the fixture holds is the engine's own (what kill_node signals)...
        assert Path(f"/run/{cluster.tag}/n{node.number}.pid").read_text().strip() == str(node.pid)
        # ...and that engine's bridge is the one made for it in its namespace, never a docker0.
        assert "docker0" not in ip("-n", node.netns, "-o", "link")
    assert "docker0" in ip("-o", "link")


# Python, not sh: the GPU's variable is DOCKER_RESOURCE_NVIDIA-GPU, a name dash drops from the
# environment it passes on.
REPORT = """\
import json, os
node = os.environ["NODE"]
found = {k: v for k, v in os.environ.items() if k.startswith("DOCKER_RESOURCE_")}
probe = open("/swarm-probe").read().strip()
open(f"/results/{node}", "w").write(json.dumps({"node": node, "probe": probe, "resources": found}))
"""


def test_a_job_runs_one_task_per_gpu_on_every_node(cluster: Cluster, image_ref: str, results: Path) -> None:
    with closing(cluster.client()) as manager:
        service = _job(
            manager,
            f"{cluster.tag}-spread",
            image_ref,
            ["python3", "-c", REPORT],
            replicas=3,
            env=["NODE={{.Node.Hostname}}"],
            mounts=[Mount(target="/results", source=str(results), type="bind")],
        )
        try:
            tasks = _wait(service, lambda ts: [t["Status"]["State"] for t in ts] == ["complete"] * 3, "3 jobs done")
        finally:
            _remove(service)
        hostnames = {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in tasks} == {image_ref}
    placed = {hostnames[t["NodeID"]]: t["GenericResources"] for t in tasks}
    assert placed == {
        n.hostname: [{"NamedResourceSpec": {"Kind": GPU_KIND, "Value": n.gpus[0]}}] for n in cluster.nodes
    }
    written = {path.name: json.loads(path.read_text()) for path in results.iterdir()}
    assert written == {
        n.hostname: {"node": n.hostname, "probe": cluster.tag, "resources": {f"DOCKER_RESOURCE_{GPU_KIND}": n.gpus[0]}}
        for n in cluster.nodes
    }


def test_a_push_to_a_registry_that_is_down_fails_and_leaves_no_tag(host: docker.DockerClient, probe_image: str) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the registry is down
        closed.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(RunInfraError, match="connection refused"):  # infra: exit 125
        push(Connection(dict(os.environ)), probe_image, registry=down, repo="harness-test/down", tag="probe")
    assert [t for t in host.images.get(probe_image).tags if t.startswith(down)] == []


def test_a_task_whose_engine_is_killed_never_completes(cluster: Cluster, image_ref: str) -> None:
    """Swarm sees node 3 down within seconds (1 s heartbeats) and does not start the job again
    elsewhere (restart condition none). The task it reports is either still `running` (the last
    state node 3 sent) or `rejected` ("assigned node no longer meets constraints"): Swarm's
    constraint enforcer, run on every node update, rejects a task whose assigned generic
    resource the node still lists; which task it rejects depends on the store's order."""
    with closing(cluster.client()) as manager:
        service = _job(
            manager, f"{cluster.tag}-loss", image_ref, ["sleep", "600"], constraints=["node.hostname==node3"]
        )
        try:
            _wait(service, lambda ts: [t["Status"]["State"] for t in ts] == ["running"], "the job runs on node3")
            cluster.kill_node(3)
            deadline = time.monotonic() + 30
            while manager.api.nodes(filters={"name": "node3"})[0]["Status"]["State"] != "down":
                assert time.monotonic() < deadline, "Swarm did not see node3 down"
                time.sleep(0.3)
            watched = []
            for _ in range(20):  # 10 s more: long enough for the orchestrator to act on it
                watched.append([t["Status"]["State"] for t in _tasks(service)])
                time.sleep(0.5)
        finally:
            _remove(service)
    assert {len(states) for states in watched} == {1}
    assert {states[0] for states in watched} <= {"running", "rejected"}

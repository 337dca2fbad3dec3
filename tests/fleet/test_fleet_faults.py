"""Faults of a fleet, through harness's CLI on a real 3-node Swarm: the registry down during the
push, an interrupt while the fleet runs probes, a node's engine killed while it runs a bisect's
probe. Each is infra (125) or an interrupt (130) at the run, never a verdict on the commit; what
harness made is gone or untagged; the bisect still names its culprit.

The node-killing test runs last in the module (a killed node stays dead until teardown).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.config import load_config
from harness.model import Verdict
from harness.naming import LAST_GOOD
from tests.fleet.project import CULPRIT, fleet_project, invoke_json, recorded_runs
from tests.fleet.swarm import Cluster

pytestmark = pytest.mark.integration


def _running_tasks(cluster: Cluster) -> list[tuple[str, str]]:
    """(service name, node hostname) of every task running on the Swarm."""
    found = []
    with closing(cluster.client()) as manager:
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}
        for service in manager.services.list():
            tasks: list[dict[str, Any]] = service.tasks()  # type: ignore[no-untyped-call]
            found += [(service.name, nodes[t["NodeID"]]) for t in tasks if t["Status"]["State"] == "running"]
    return found


def _drain_the_manager(cluster: Cluster) -> None:
    """Tasks then run on the workers only (the one that may be killed): the Swarm has one manager."""
    with closing(cluster.client()) as manager:
        node = manager.nodes.list(filters={"name": "node1"})[0]
        node.update({**node.attrs["Spec"], "Availability": "drain"})


def test_a_registry_down_during_the_push_is_infra_and_nothing_is_tagged(
    tmp_path: Path, cluster: Cluster, host: docker.DockerClient
) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the registry is down
        closed.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{closed.getsockname()[1]}"
    config, shas = fleet_project(tmp_path, cluster, registry=down)
    code, doc = invoke_json(config, "build-and-test", shas[0])
    assert code == 125, doc
    cfg = load_config(config)
    run = recorded_runs(cfg.state_dir, cfg.runs_dir)[0]
    assert run.verdict is Verdict.ERROR and down in run.summary, run.summary
    tags = [t for image in host.images.list() for t in image.tags]
    assert [t for t in tags if t.startswith(down)] == []  # no name pushed under is left
    assert f"{cfg.repo}:{LAST_GOOD}" not in tags  # an untested image is never last-good


def test_an_interrupt_while_the_fleet_runs_probes_removes_their_jobs(tmp_path: Path, cluster: Cluster) -> None:
    config, shas = fleet_project(tmp_path, cluster, sleep_s=300)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "-c", str(config), "build-and-test", shas[1], shas[2]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not _running_tasks(cluster):  # a probe's task runs (it sleeps 300 s in its import)
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no fleet task ever ran"
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"harness still running 120 s after SIGINT:\n{proc.communicate()[0][-2000:]}")
    assert proc.returncode == 130, output[-2000:]
    with closing(cluster.client()) as manager:
        assert manager.services.list() == [], "the session's fleet jobs outlived the interrupt"


def test_a_node_killed_during_a_bisect_probe_is_rescheduled_and_the_culprit_named(
    tmp_path: Path, cluster: Cluster
) -> None:
    """The first task seen running has its node's engine killed (each run sleeps 4 s in its
    import, so the kill lands while it runs); harness starts that run again on the other worker."""
    _drain_the_manager(cluster)
    config, shas = fleet_project(tmp_path, cluster, sleep_s=4)
    killed: list[tuple[str, str]] = []
    stop = threading.Event()

    def kill_the_first_running() -> None:
        while not stop.is_set():
            if running := _running_tasks(cluster):
                cluster.kill_node(int(running[0][1].removeprefix("node")))
                killed.append(running[0])
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_first_running)
    killer.start()
    try:
        code, doc = invoke_json(config, "bisect", "--good", shas[0], "--bad", shas[-1], "--jobs", "2")
    finally:
        stop.set()
        killer.join()
    assert killed, "no task ever ran"
    assert code == 0, doc
    assert doc["first_bad"] == shas[CULPRIT]
    cfg = load_config(config)
    runs = recorded_runs(cfg.state_dir, cfg.runs_dir)
    logs = {r.run_id: Path(r.run_dir, "container.log").read_text() for r in runs}
    again = [r for r in runs if f"was lost while it ran {killed[0][0]}: starting it again" in logs[r.run_id]]
    assert len(again) == 1, {r.run_id: logs[r.run_id][-500:] for r in runs}
    assert again[0].node not in ("", killed[0][1])  # the node's hostname is recorded
    assert all(r.verdict is not Verdict.ERROR for r in runs), [(r.commit[:8], r.summary) for r in runs]

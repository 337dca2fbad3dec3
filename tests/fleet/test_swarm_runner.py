"""SwarmRunner, the ContainerRunner port over a real 3-node Swarm with a registry.

A test run's request, as build-and-test plans it for a local container, goes to the fleet: the
image built on the host is pushed and pulled by digest, the task reserves one GPU (a generic
resource), writes its outputs into the shared results path and its log comes back; its exit
code is the run's. A node lost mid-task is infra.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.adapters.engine.connection import Connection
from harness.adapters.engine.swarm import SwarmRunner
from harness.errors import RunInfraError
from harness.limits import Limits
from harness.runplan import ContainerExit, GpuPlan, Mount, RunRequest
from tests.conftest import BASE_IMAGE
from tests.fleet.project import fleet_config
from tests.fleet.swarm import Cluster

pytestmark = pytest.mark.integration

# The "runner" of this image: says hello, writes its GPU and argv into /harness/out, sleeps
# argv[2] seconds or until /harness/out/go appears, exits argv[1]. SIGTERM ends it at once (as
# PID 1 it would be ignored, and a stopped job would keep its node's GPU for the grace period).
RUNNER = """\
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
print("hello from the fleet", flush=True)
gpu = os.environ.get("DOCKER_RESOURCE_NVIDIA-GPU", "")
open("/harness/out/done.txt", "w").write(f"{gpu} {' '.join(sys.argv[1:])}")
until = time.time() + float(sys.argv[2])
while time.time() < until and not os.path.exists("/harness/out/go"):
    time.sleep(0.1)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def runner_image(host: docker.DockerClient, cluster: Cluster) -> Iterator[str]:
    dockerfile = f'FROM {BASE_IMAGE}\nCOPY runner.py /runner.py\nENTRYPOINT ["python3", "/runner.py"]\n'
    context = io.BytesIO()

    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("runner.py", RUNNER)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"harness-test/{cluster.tag}-runner:latest"
    image, _ = host.images.build(
        fileobj=context, custom_context=True, tag=tag, rm=True, labels={"harness.test": "swarm"}
    )
    try:
        yield str(image.id)
    finally:
        host.images.remove(tag, force=True)


def _runner(cluster: Cluster, results: Path, repo: str, *, reschedule: int = 1) -> SwarmRunner:
    fleet = fleet_config(cluster, results, reschedule=reschedule)
    return SwarmRunner(
        manager=Connection({"DOCKER_HOST": cluster.manager_url}),
        builder=Connection(dict(os.environ)),
        fleet=fleet,
        repo=repo,
        shared=(str(results),),
        poll_s=0.2,
    )


def _request(image: str, out: Path, name: str, *args: str, timeout_s: float = 120) -> RunRequest:
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o777)  # the task's user is unprivileged
    return RunRequest(
        image=image,
        command=args,
        labels=(("harness.run", name),),
        mounts=(Mount(source=str(out), target="/harness/out", read_only=False),),
        environment=(),
        gpu=GpuPlan(mode="nvidia", reason="fleet"),
        timeout_s=timeout_s,
        name=name,
        limits=Limits(memory_bytes=0),
        output_dir=str(out),
    )


def test_a_run_goes_to_a_node_by_digest_with_a_gpu_and_its_exit_code_and_log_come_back(
    cluster: Cluster, runner_image: str, results: Path, host: docker.DockerClient
) -> None:
    runner = _runner(cluster, results, f"harness-test/{cluster.tag}-fleet")
    lines: list[str] = []
    outcomes = {}
    for code in ("0", "3"):
        out = results / "runs" / f"r{code}" / "out"
        log = results / "runs" / f"r{code}" / "test.log"
        done = runner.run(
            _request(runner_image, out, f"{cluster.tag}-r{code}", code, "0"), log_path=str(log), on_line=lines.append
        )
        outcomes[code] = (done, out, log)
    with closing(cluster.client()) as manager:
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}
        assert manager.services.list(filters={"name": cluster.tag}) == []  # every job's service removed
    for code, (done, out, log) in outcomes.items():
        assert done.exit_code == int(code) and not done.timed_out and done.killed_for == ""
        assert done.node in nodes.values() and done.image_digest.startswith("sha256:")
        gpu, argv = out.joinpath("done.txt").read_text().split(" ", 1)
        assert gpu.startswith("GPU-") and argv == f"{code} 0"
        assert "hello from the fleet" in log.read_text()
    assert any(line.startswith("[fleet] task ") and " on node node" in line for line in lines)
    # The names the image was pushed under stay in the registry only, not on this host's engine.
    assert [t for t in host.images.get(runner_image).tags if t.startswith(cluster.registry_host)] == []
    assert "hello from the fleet" in lines


def _wait_for(path: Path, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _drain_the_manager(cluster: Cluster) -> None:
    """Tasks then land on workers: the Swarm has one manager, and a test kills a worker."""
    with closing(cluster.client()) as manager:
        node = manager.nodes.list(filters={"name": "node1"})[0]
        if node.attrs["Spec"]["Availability"] != "drain":
            node.update({**node.attrs["Spec"], "Availability": "drain"})


def _kill_where_it_runs(cluster: Cluster, service_name: str) -> str:
    with closing(cluster.client()) as manager:
        service: Any = manager.services.list(filters={"name": service_name})[0]
        hostname = str(manager.nodes.get(service.tasks()[0]["NodeID"]).attrs["Description"]["Hostname"])
    cluster.kill_node(int(hostname.removeprefix("node")))
    return hostname


def _run_beside(side: Callable[[], None], runner: SwarmRunner, request: RunRequest, lines: list[str]) -> ContainerExit:
    """`runner.run(request)` while `side` (a thread) acts on the fleet; the log beside `out/`."""
    thread = threading.Thread(target=side)
    thread.start()
    try:
        return runner.run(request, log_path=str(Path(request.output_dir).parent / "test.log"), on_line=lines.append)
    finally:
        thread.join()


def test_a_run_whose_node_is_lost_starts_again_on_another_node(
    cluster: Cluster, runner_image: str, results: Path
) -> None:
    """Kills one worker (the next test kills the other): the task started (its file written),
    then its node's engine is killed; the run starts again elsewhere, the lost attempt's outputs
    set aside, and ends as the second attempt ends."""
    _drain_the_manager(cluster)
    runner = _runner(cluster, results, f"harness-test/{cluster.tag}-fleet", reschedule=1)
    out = results / "runs" / "again" / "out"
    request = _request(runner_image, out, f"{cluster.tag}-again", "0", "300", timeout_s=120)
    killed: list[str] = []

    def kill_then_release() -> None:
        if not _wait_for(out / "done.txt"):  # the first attempt runs
            return
        killed.append(_kill_where_it_runs(cluster, f"{cluster.tag}-again"))
        if _wait_for(out.with_name("out.lost-1")) and _wait_for(out / "done.txt"):  # the second runs
            (out / "go").touch()

    lines: list[str] = []
    done = _run_beside(kill_then_release, runner, request, lines)
    assert killed, "the first attempt never started"
    with closing(cluster.client()) as manager:
        assert manager.services.list(filters={"name": cluster.tag}) == []  # both attempts' jobs removed
    assert done.exit_code == 0 and done.node not in ("", killed[0], "node1"), (done, killed, lines)
    said = f"[fleet] node {killed[0]} was lost while it ran {cluster.tag}-again: starting it again on another node"
    assert any(line.startswith(said) for line in lines)
    assert said in (out.parent / "test.log").read_text()
    assert (out.with_name("out.lost-1") / "done.txt").exists() and (out / "done.txt").exists()


def test_a_node_lost_mid_task_is_infra(cluster: Cluster, runner_image: str, results: Path) -> None:
    """Kills the other worker, with no attempt left (reschedule 0)."""
    _drain_the_manager(cluster)
    runner = _runner(cluster, results, f"harness-test/{cluster.tag}-fleet", reschedule=0)
    out = results / "runs" / "lost" / "out"
    request = _request(runner_image, out, f"{cluster.tag}-lost", "0", "300", timeout_s=120)
    killed: list[str] = []

    def kill_where_it_runs() -> None:
        if _wait_for(out / "done.txt"):  # the task started (and wrote its file)
            killed.append(_kill_where_it_runs(cluster, f"{cluster.tag}-lost"))

    started = time.monotonic()
    with pytest.raises(RunInfraError, match=r"node (node\d) was lost while it ran") as lost:
        _run_beside(kill_where_it_runs, runner, request, [])
    assert killed and killed[0] != "node1" and killed[0] in str(lost.value)
    assert time.monotonic() - started < 60  # seen by harness in seconds, not at the deadline


def test_a_run_past_its_deadline_is_stopped_and_said(cluster: Cluster, runner_image: str, results: Path) -> None:
    with closing(cluster.client()) as manager:  # the workers are dead by now: the manager runs it
        node = manager.nodes.list(filters={"name": "node1"})[0]
        node.update({**node.attrs["Spec"], "Availability": "active"})
    runner = _runner(cluster, results, f"harness-test/{cluster.tag}-fleet")
    out = results / "runs" / "slow" / "out"
    # Long enough for the pull on a busy machine (a job removed while its task still pulled kept
    # that node's GPU reserved for minutes, seen): the deadline stops a running task. Last in the
    # module, so that no test after it needs that GPU.
    request = _request(runner_image, out, f"{cluster.tag}-slow", "0", "300", timeout_s=30)
    done = runner.run(request, log_path=str(out.parent / "test.log"), on_line=lambda line: None)
    assert done.exit_code is None and done.timed_out and done.killed_for == "deadline"

"""A real Docker Swarm on one machine: `swarm_cluster` starts N engines and a registry, forms the
Swarm, and tears all of it down.

The shape, and why:
- A test bridge `hsw<6 hex>` on the host with a free private /24 (its first address is the
  gateway and the registry's); one network namespace per node joined to it by a veth pair.
  The host engine's FORWARD policy is DROP and br_netfilter passes bridged frames through it, so
  one ACCEPT rule for the bridge lets the nodes talk (hostnet.make_bridge).
- One `dockerd` per node, entered into its network namespace with `nsenter --net` plus a mount
  and a UTS namespace of its own (UNSHARE): its mounts die with it, and each node has its own
  hostname (`node1`...; Swarm shows and templates it). Not `ip netns exec`: it mounts a fresh
  /sys, which hides /sys/fs/cgroup from the engine (and from the line that puts it in its
  cgroup: "Directory nonexistent"). The price: the engine's /sys/class/net is the host's, and
  the overlay driver logs that it cannot set its bridge's default VLAN (harmless here).
- Each engine has its own data root, exec root, pidfile, socket, an empty `--config-file` (the
  host's daemon.json is not its), and `--bridge nbr0`, a bridge made in its namespace: an engine
  that manages `docker0` deletes the host engine's bridge when it stops. Exec roots and sockets
  live in /run/<tag>/ because unix socket paths must stay under 108 bytes (pytest's tmp_path is
  long); data roots and logs in tmp_path.
- Each engine runs in a cgroup of its own and puts its containers below it (hostnet.cgroup_dir),
  so teardown kills everything the node started, even after a SIGKILL of its engine left
  containerd's shims and the containers running.
- Fake GPUs: every engine advertises `--node-generic-resource NVIDIA-GPU=GPU-<node>-<i>`; a task
  reserving `NVIDIA-GPU` gets one assigned, in its environment as DOCKER_RESOURCE_NVIDIA-GPU.
- The registry (tests/fleet/registry.py): two `docker-registry` processes over one storage
  folder, one on the bridge address for the nodes (`--insecure-registry` on their engines), one
  on 127.0.0.1 for the host engine, which treats 127.0.0.0/8 as insecure by default: the shared
  host engine needs no restart and no daemon.json change. One digest, two names
  (`Cluster.for_nodes`).
- The Swarm's dispatcher heartbeat is 1 s (default 5 s) so a killed node is seen down quickly.
  This kernel has no IPVS: each engine logs errors reading net.ipv4.vs.* for the ingress
  network's load balancer; publishing ports through ingress is untested here.

Teardown (an ExitStack, so it runs from wherever setup stopped): every node leaves the Swarm,
every engine gets SIGTERM by pid (SIGKILL after a grace period), every process left in a node's
cgroup is killed, then the veths, namespaces, bridge, FORWARD rule, registry processes and
folders go (the logs stay in tmp_path). `hostnet.leftovers` then must find nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import docker
import requests

from tests.fleet import hostnet
from tests.fleet.registry import REGISTRY, Registry, start_registry

DOCKERD = "dockerd"
GPU_KIND = "NVIDIA-GPU"
START_S = 60.0  # per engine, and for the Swarm to see every node ready
STOP_S = 20.0
HEARTBEAT_NS = 1_000_000_000
TOOLS = {
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    DOCKERD: "docker.io",
    REGISTRY: "docker-registry",
}
# The engine's own mount namespace (its mounts die with it; the host's reach it) and UTS namespace.
UNSHARE = ("unshare", "--mount", "--propagation", "slave", "--uts")
# Runs as the engine's first process: joins the node's cgroup, names the host, becomes dockerd.
ENTER = 'echo $$ > "$1/cgroup.procs" && hostname "$2" && shift 2 && exec "$@"'
DOCKER_ERRORS = (docker.errors.DockerException, requests.RequestException)


class NodeFailed(RuntimeError):
    """A node's engine did not start or the Swarm did not form; the message names the log."""


class LeftoverError(RuntimeError):
    """Teardown left something on the host."""


@dataclass(frozen=True, kw_only=True)
class Node:
    number: int  # 1-based, as in its hostname; node 1 is the manager
    hostname: str
    url: str  # unix:///run/<tag>/nN.sock
    ip: str  # on the test bridge
    pid: int  # its dockerd
    netns: str
    gpus: tuple[str, ...]  # the NVIDIA-GPU ids it advertises
    log: Path


@dataclass(frozen=True, kw_only=True)
class Cluster:
    tag: str  # the prefix of every name the fixture made on the host
    nodes: tuple[Node, ...]
    registry_host: str  # host:port the host engine pushes to
    registry_nodes: str  # host:port the nodes pull from (the same registry)
    registry_pids: tuple[int, ...]

    @property
    def manager_url(self) -> str:
        return self.nodes[0].url

    def node(self, number: int) -> Node:
        return self.nodes[number - 1]

    def client(self, number: int = 1, timeout: int = 30) -> docker.DockerClient:
        """A client of node `number`'s engine (1: the manager); close it (contextlib.closing)."""
        return docker.DockerClient(base_url=self.node(number).url, timeout=timeout)

    def for_nodes(self, ref: str) -> str:
        """A reference `push` returned (the host's name of the registry) as the nodes name it."""
        if not ref.startswith(f"{self.registry_host}/"):
            raise ValueError(f"{ref} is not in the test registry {self.registry_host}")
        return self.registry_nodes + ref.removeprefix(self.registry_host)

    def kill_node(self, number: int) -> None:
        """SIGKILL node `number`'s engine (engine-loss tests); its containers keep running until
        teardown. Kill a worker: the Swarm has one manager."""
        os.kill(self.node(number).pid, signal.SIGKILL)


@dataclass(frozen=True, kw_only=True)
class _Member:
    node: Node
    proc: subprocess.Popen[bytes]


def swarm_unavailable() -> str | None:
    """Why the fixture cannot run on this host, or None."""
    if os.geteuid() != 0:
        return "the Swarm fixture needs root (network namespaces, a bridge, dockerd)"
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (Debian package {package}; scripts/setup-host.sh installs it)"
    probe = f"hswprobe{secrets.token_hex(3)}"
    try:
        hostnet.ip("netns", "add", probe)
    except hostnet.PlumbingError as exc:
        return f"cannot make network namespaces here: {exc}"
    hostnet.ip("netns", "del", probe, check=False)
    if not hostnet.cgroup_dir("").is_dir():
        return f"no cgroup hierarchy at {hostnet.cgroup_dir('')}"
    return None


@contextlib.contextmanager
def swarm_cluster(
    tmp_path: Path, nodes: int = 3, *, gpus_per_node: int = 1, dockerd_flags: Sequence[str] = ()
) -> Iterator[Cluster]:
    """A Swarm of `nodes` engines (node 1 the manager) and a registry, all ready; torn down on
    exit, then checked for leftovers (LeftoverError). `dockerd_flags` go to every engine."""
    tag = f"hsw{secrets.token_hex(3)}"
    try:
        with ExitStack() as stack:
            cluster = _setup(stack, tag, tmp_path / tag, nodes, gpus_per_node, tuple(dockerd_flags))
            yield cluster
    finally:
        if left := hostnet.leftovers(tag):
            raise LeftoverError(f"the Swarm fixture {tag} left: {left}")


def _setup(stack: ExitStack, tag: str, folder: Path, count: int, gpus: int, flags: tuple[str, ...]) -> Cluster:
    folder.mkdir(parents=True)
    run = Path("/run") / tag
    run.mkdir(mode=0o700)
    stack.callback(shutil.rmtree, run, ignore_errors=True)
    nets = hostnet.free_block(count + 1, random.Random())
    gateway = hostnet.make_bridge(stack, tag, nets[0])
    registry = start_registry(stack, folder, gateway)
    members = [
        _start_node(stack, tag, number, run=run, folder=folder, nets=nets, registry=registry, gpus=gpus, flags=flags)
        for number in range(1, count + 1)
    ]
    # Registered after every engine's own stop: runs first, so they leave and stop side by side.
    stack.callback(_stop_all, members)
    deadline = time.monotonic() + START_S
    for member in members:
        _wait_engine(member, deadline)
    _form_swarm(members)
    return Cluster(
        tag=tag,
        nodes=tuple(m.node for m in members),
        registry_host=registry.host,
        registry_nodes=registry.nodes,
        registry_pids=registry.pids,
    )


def _start_node(
    stack: ExitStack,
    tag: str,
    number: int,
    *,
    run: Path,
    folder: Path,
    nets: list[IPv4Network],
    registry: Registry,
    gpus: int,
    flags: tuple[str, ...],
) -> _Member:
    netns, address = f"{tag}-n{number}", str(nets[0][1 + number])
    data = folder / f"n{number}"
    stack.callback(shutil.rmtree, data, ignore_errors=True)
    veth, gateway = f"{tag}v{number}", str(nets[0][1])
    hostnet.make_netns(
        stack, netns, bridge=tag, veth=veth, address=f"{address}/24", gateway=gateway, inner=nets[number]
    )
    engine_cgroup = hostnet.make_cgroup(stack, netns)
    config = run / f"n{number}.json"
    config.write_text("{}")
    ids = tuple(f"GPU-{number}-{i}" for i in range(gpus))
    node = Node(
        number=number,
        hostname=f"node{number}",
        url=f"unix://{run}/n{number}.sock",
        ip=address,
        pid=0,
        netns=netns,
        gpus=ids,
        log=folder / f"node{number}.log",
    )
    argv = [
        *("nsenter", f"--net=/run/netns/{netns}", *UNSHARE, "sh", "-c", ENTER, "sh", str(engine_cgroup), node.hostname),
        *(DOCKERD, "--config-file", str(config), "--data-root", str(data), "--exec-root", str(run / f"n{number}")),
        *("--pidfile", str(run / f"n{number}.pid"), "-H", node.url, "--bridge", "nbr0", "--cgroup-parent", f"/{netns}"),
        *("--insecure-registry", registry.nodes, "--swarm-default-advertise-addr", address),
        *(f"--node-generic-resource={GPU_KIND}={gpu}" for gpu in ids),
        *flags,
    ]
    with node.log.open("wb") as out:
        # nsenter, unshare and the shell each exec the next: this pid is dockerd's.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(hostnet.stop_process, proc, STOP_S)
    return _Member(node=dataclasses.replace(node, pid=proc.pid), proc=proc)


def _wait_engine(member: _Member, deadline: float) -> None:
    node = member.node
    while True:
        if (code := member.proc.poll()) is not None:
            raise NodeFailed(f"{node.hostname}'s dockerd exited {code} before answering; its log: {node.log}")
        # Not before the socket is there: docker-py leaks the socket of a failed connect.
        if Path(node.url.removeprefix("unix://")).exists():
            with contextlib.suppress(*DOCKER_ERRORS), closing(docker.DockerClient(base_url=node.url, timeout=5)) as c:
                c.ping()
                return
        if time.monotonic() > deadline:
            raise NodeFailed(f"{node.hostname}'s dockerd did not answer on {node.url}; its log: {node.log}")
        time.sleep(0.2)


def _form_swarm(members: list[_Member]) -> None:
    manager, *workers = (m.node for m in members)
    with closing(docker.DockerClient(base_url=manager.url, timeout=30)) as boss:
        boss.swarm.init(advertise_addr=manager.ip, dispatcher_heartbeat_period=HEARTBEAT_NS)
        boss.swarm.reload()
        token = boss.swarm.attrs["JoinTokens"]["Worker"]
        for worker in workers:
            with closing(docker.DockerClient(base_url=worker.url, timeout=30)) as client:
                client.swarm.join(remote_addrs=[f"{manager.ip}:2377"], join_token=token, advertise_addr=worker.ip)
        deadline = time.monotonic() + START_S
        while (states := _states(boss)) != {m.node.hostname: "ready" for m in members}:
            if time.monotonic() > deadline:
                raise NodeFailed(f"the Swarm did not see every node ready: {states}; logs: {manager.log.parent}")
            time.sleep(0.2)


def _states(manager: docker.DockerClient) -> dict[str, str]:
    nodes = manager.nodes.list()
    return {str(n.attrs["Description"]["Hostname"]): str(n.attrs["Status"]["State"]) for n in nodes}


def _stop_all(members: list[_Member]) -> None:
    """Every live node leaves the Swarm, the workers side by side and then the manager (a worker
    leaving after its manager waits 5 s for it), then every engine gets SIGTERM."""
    live = [m for m in members if m.proc.poll() is None]
    workers = [m for m in live if m.node.number != 1]
    with ThreadPoolExecutor(max_workers=max(len(workers), 1)) as pool:
        list(pool.map(_leave, workers))
    for manager in (m for m in live if m.node.number == 1):
        _leave(manager)
    for member in live:
        member.proc.terminate()
    for member in members:
        hostnet.stop_process(member.proc, STOP_S)


def _leave(member: _Member) -> None:
    with contextlib.suppress(*DOCKER_ERRORS), closing(docker.DockerClient(base_url=member.node.url, timeout=15)) as c:
        c.swarm.leave(force=True)

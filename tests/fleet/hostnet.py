"""Host plumbing for the Swarm fixture: a test bridge, and per node a network namespace, a veth
pair and a cgroup.

Everything is named after one tag (`hsw` + 6 hex digits), so teardown and `leftovers` find what
one fixture made and nothing else: never docker0, the host engine's veths or another fixture's.
Each `make_*` registers its own undo on the ExitStack it is given right after making the thing,
so a setup that fails halfway undoes exactly what it made. Undo steps are best effort (a thing
may already be gone with its namespace); `leftovers` is the check that counts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

CGROUPS = Path("/sys/fs/cgroup")
# Test blocks are picked here, away from Docker's local pools (172.17-31/16, 192.168/16) and
# Swarm's default overlay pool (10.0.0.0/8 from its bottom up).
POOL = ipaddress.ip_network("10.200.0.0/13")


class PlumbingError(RuntimeError):
    """A host command the fixture needs failed; the message has the command and its stderr."""


def sh(*argv: str, check: bool = True, timeout: float = 30) -> str:
    """Run a host command; its stdout, or PlumbingError naming it with its stderr."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise PlumbingError(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def ip(*args: str, check: bool = True) -> str:
    return sh("ip", *args, check=check)


def _undo(*argv: str) -> None:
    sh(*argv, check=False)


def free_block(count: int, rng: random.Random) -> list[ipaddress.IPv4Network]:
    """`count` consecutive /24s that no route or address of the host overlaps."""
    used = [ipaddress.ip_network(str(r["dst"]), strict=False) for r in _json("route") if r["dst"] != "default"]
    used += [
        ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
        for link in _json("addr")
        for a in link.get("addr_info", [])
    ]
    prefix = 24 - (count - 1).bit_length()
    blocks = [b for b in POOL.subnets(new_prefix=prefix) if isinstance(b, ipaddress.IPv4Network)]
    rng.shuffle(blocks)
    for block in blocks:
        if not any(block.overlaps(u) for u in used):
            return list(block.subnets(new_prefix=24))[:count]
    raise PlumbingError(f"no /{prefix} of {POOL} is free of the host's routes")


def _json(what: str) -> list[dict[str, Any]]:
    text = ip("-j", "-4", what).strip()
    return list(json.loads(text)) if text else []


def make_bridge(stack: ExitStack, name: str, net: ipaddress.IPv4Network) -> str:
    """The test bridge, up, with the block's first address (returned: the nodes' gateway)."""
    gateway = str(net[1])
    ip("link", "add", name, "type", "bridge")
    stack.callback(_undo, "ip", "link", "del", name)
    ip("addr", "add", f"{gateway}/{net.prefixlen}", "dev", name)
    ip("link", "set", name, "up")
    # The host engine set FORWARD's policy to DROP, and br_netfilter passes bridged frames through
    # FORWARD: without this rule the nodes cannot reach each other (Swarm's 2377, 7946, 4789).
    rule = ("-i", name, "-o", name, "-j", "ACCEPT")
    sh("iptables", "-w", "-I", "FORWARD", "1", *rule)
    stack.callback(_undo, "iptables", "-w", "-D", "FORWARD", *rule)
    return gateway


def make_netns(
    stack: ExitStack, name: str, *, bridge: str, veth: str, address: str, gateway: str, inner: ipaddress.IPv4Network
) -> None:
    """A namespace `name` joined to `bridge` by a veth pair (eth0 inside, `veth` on the bridge),
    loopback up, the default route via `gateway`, and a bridge `nbr0` on `inner` for the node's
    engine (its `--bridge`: an engine in the namespace then never manages a docker0 of its own)."""
    ip("netns", "add", name)
    stack.callback(_undo, "ip", "netns", "del", name)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
    stack.callback(_undo, "ip", "link", "del", veth)
    ip("link", "set", veth, "master", bridge, "up")
    for args in (
        ("link", "set", "lo", "up"),
        ("addr", "add", address, "dev", "eth0"),
        ("link", "set", "eth0", "up"),
        ("route", "add", "default", "via", gateway),
        ("link", "add", "nbr0", "type", "bridge"),
        ("addr", "add", f"{inner[1]}/{inner.prefixlen}", "dev", "nbr0"),
        ("link", "set", "nbr0", "up"),
    ):
        ip("-n", name, *args)


def _unified() -> bool:
    return (CGROUPS / "cgroup.controllers").exists()


def cgroup_dir(name: str) -> Path:
    """The node's cgroup: its engine sits in `engine/` below it, its containers beside that
    (dockerd --cgroup-parent /<name>), so killing every process in it leaves nothing of the node
    even after its engine was SIGKILLed (containerd's shims and the containers outlive it)."""
    return CGROUPS / name if _unified() else CGROUPS / "pids" / name


def make_cgroup(stack: ExitStack, name: str) -> Path:
    """The node's cgroup, made; returns the engine's folder in it (write the engine's pid there)."""
    engine = cgroup_dir(name) / "engine"
    engine.mkdir(parents=True)
    stack.callback(remove_cgroup, name)
    return engine


def _cgroup_trees(name: str) -> list[Path]:
    """The node's cgroup in every hierarchy (v1: runc makes the containers' in each controller)."""
    if _unified():
        return [CGROUPS / name] if (CGROUPS / name).is_dir() else []
    return [h / name for h in CGROUPS.iterdir() if (h / name).is_dir()]


def _procs(tree: Path) -> set[int]:
    pids: set[int] = set()
    for procs in tree.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in procs.read_text().split())
    return pids


def remove_cgroup(name: str, deadline_s: float = 20) -> None:
    """SIGKILL every process of the node's cgroup until none is left, then remove its folders."""
    end = time.monotonic() + deadline_s
    while (pids := _procs(cgroup_dir(name))) and time.monotonic() < end:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for tree in _cgroup_trees(name):
        folders = sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for folder in [*folders, tree]:
            with contextlib.suppress(OSError):
                folder.rmdir()


def stop_process(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process (by its pid), SIGKILL after `grace_s`; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def processes() -> list[tuple[int, str]]:
    """Every process of the host as (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                found.append((int(entry.name), " ".join(a.decode(errors="replace") for a in argv if a)))
    return found


def host_names(prefix: str) -> set[str]:
    """The links, namespaces and cgroups whose names start with `prefix`, and every dockerd
    process: a fixture's teardown leaves this as it found it."""
    links = {str(link["ifname"]) for link in json.loads(ip("-j", "link").strip() or "[]")}
    spaces = {str(ns["name"]) for ns in json.loads(ip("-j", "netns", "list").strip() or "[]")}
    groups = {str(p.relative_to(CGROUPS)) for p in CGROUPS.glob(f"*/{prefix}*")} | {
        str(p.relative_to(CGROUPS)) for p in CGROUPS.glob(f"{prefix}*")
    }
    engines = {f"process {pid}: {cmd}" for pid, cmd in processes() if cmd.split(" ")[0].endswith("dockerd")}
    return (
        {f"link {n}" for n in links if n.startswith(prefix)}
        | {f"netns {n}" for n in spaces if n.startswith(prefix)}
        | {f"cgroup {g}" for g in groups}
        | engines
    )


def leftovers(tag: str) -> list[str]:
    """What a fixture of this tag left on the host; empty after a clean teardown."""
    found = sorted(n for n in host_names(tag) if not n.startswith("process"))
    found += [f"process {pid}: {cmd}" for pid, cmd in processes() if tag in cmd]
    found += [f"iptables: {r}" for r in sh("iptables", "-w", "-S", "FORWARD").splitlines() if tag in r]
    found += [f"folder {p}" for p in Path("/run").glob(f"{tag}*")]
    return found

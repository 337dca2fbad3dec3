"""The test registry: Debian's `docker-registry` (the reference `distribution` server); images
reach it through harness.adapters.engine.registry.push.

Two `docker-registry serve` processes share one storage folder: one listens on the test bridge's
address for the nodes (their engines run with `--insecure-registry` for it), one on 127.0.0.1
for the host engine, which treats 127.0.0.0/8 as insecure by default. So the host engine, shared
with other sessions, needs no restart and no daemon.json change. An image pushed from the host is
one manifest, one digest, under two names: `127.0.0.1:P/repo@sha256:X` on the host and
`<bridge address>:P/repo@sha256:X` on the nodes (`Cluster.for_nodes` maps one to the other).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.fleet.hostnet import stop_process

REGISTRY = "docker-registry"
START_S = 20.0


class RegistryFailed(RuntimeError):
    """The registry did not start; the message names its log."""


@dataclass(frozen=True, kw_only=True)
class Registry:
    host: str  # host:port the host engine pushes to
    nodes: str  # host:port the nodes pull from
    pids: tuple[int, ...]


def start_registry(stack: ExitStack, folder: Path, bridge_ip: str) -> Registry:
    """The registry's two listeners, answering; stopped by the stack."""
    port = _free_port()
    storage = folder / "registry"
    storage.mkdir()
    stack.callback(shutil.rmtree, storage, ignore_errors=True)  # after both processes stopped
    # Shared by both processes: an upload session one of them opened is valid on the other.
    secret = secrets.token_hex(16)
    pids = tuple(
        _serve(stack, folder / f"registry-{side}", f"{address}:{port}", storage, secret)
        for side, address in (("host", "127.0.0.1"), ("nodes", bridge_ip))
    )
    return Registry(host=f"127.0.0.1:{port}", nodes=f"{bridge_ip}:{port}", pids=pids)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(stack: ExitStack, stem: Path, address: str, storage: Path, secret: str) -> int:
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": address, "secret": secret},
    }
    stem.with_suffix(".yml").write_text(yaml.safe_dump(config))
    log = stem.with_suffix(".log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [REGISTRY, "serve", str(stem.with_suffix(".yml"))],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(stop_process, proc, 10)
    deadline = time.monotonic() + START_S
    while not _answers(f"http://{address}/v2/"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RegistryFailed(f"the registry on {address} did not answer (exit {proc.poll()}); its log: {log}")
        time.sleep(0.1)
    return proc.pid


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False

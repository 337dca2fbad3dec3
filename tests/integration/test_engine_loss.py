"""The engine going away mid-run, and a full disk under the store.

The engine is reached through a small socket proxy the test can cut, which looks to harness
exactly like a daemon that stopped answering; the real daemon keeps the container, so the
leftover (labelled with a dead session) is reaped by `gc` once the engine answers again."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.sample.make import template
from harness.store import Store
from tests.integration.conftest import Project
from tests.unit.test_store import RECORD

pytestmark = pytest.mark.integration
ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")


class _Pipe(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(ENGINE)
        server = self.server
        assert isinstance(server, _PipeServer)
        server.conns.append((self.request, upstream))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        back.start()
        pump(self.request, upstream)
        back.join()


class _PipeServer(socketserver.ThreadingUnixStreamServer):
    """Keeps both ends of every connection it piped, for `cut` to close."""

    def __init__(self, path: str) -> None:
        super().__init__(path, _Pipe)
        self.conns: list[tuple[socket.socket, socket.socket]] = []


@contextlib.contextmanager
def engine_proxy(path: Path) -> Iterator[_PipeServer]:
    server = _PipeServer(str(path))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        cut(server)


def cut(server: _PipeServer) -> None:
    server.shutdown()
    server.server_close()
    for a, b in server.conns:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()
    Path(str(server.server_address)).unlink(missing_ok=True)  # an AF_UNIX address: the socket's path


def test_engine_lost_mid_run_is_infra_and_leftovers_are_reaped(project: Project, tmp_path: Path) -> None:
    wgp = template()["wgp.py"] or ""
    sha = project.commit(
        "slow",
        {
            **template(),
            "wgp.py": wgp.replace(
                "    model = get_model_def(model_type)\n",
                "    import time\n    time.sleep(60)\n    model = get_model_def(model_type)\n",
                1,
            ),
        },
    )
    assert project.run("build-and-test", "HEAD", "--level", "contract")[0] == 0
    sock = tmp_path / "engine.sock"
    with engine_proxy(sock) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "-c", str(project.config), "build-and-test", "HEAD"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "DOCKER_HOST": f"unix://{sock}"},
        )
        deadline = time.monotonic() + 300
        while not project.engine.client.containers.list(
            filters={"label": f"harness.commit={sha}", "status": "running"}
        ):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.5)
        cut(server)  # the engine stops answering mid-run
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 125, output
    assert "engine unavailable" in output.lower() or "does not answer" in output
    record = project.store().runs()[0]
    assert record.verdict is Verdict.ERROR and project.image_id(LAST_GOOD) is None
    # The container outlived its harness process; once the engine answers, gc reaps it.
    assert project.containers(sha)
    code, output = project.run("gc", "--keep", "5")
    assert code == 0, output
    assert "leftover container" in output and project.containers(sha) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_disk_full_under_the_store_is_a_clear_error_and_rolls_back(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        store = Store(mnt / "state.db")
        kept = 0
        big = dataclasses.replace(RECORD, summary="x" * 20000)
        with pytest.raises(StoreError, match="could not record run"):
            for i in range(1000):
                store.add_run(dataclasses.replace(big, run_id=f"r{i:05d}"), move_pointer="last-good")
                kept += 1
        assert store.integrity() == "ok"
        assert len(store.runs(10**6)) == kept and kept > 0
        pointer = store.pointer("last-good")
        assert pointer is not None and store.run(pointer.run_id) is not None
        store.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)

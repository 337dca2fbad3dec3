"""`weights pull` (issue 13): no upstream code ever runs near the token; the downloader is not root.

Downloads go to HTTP servers the test starts on 127.0.0.1 only; the downloader container then
uses the host's network namespace (`host_network`), so the traffic never leaves loopback.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker.models.containers
import pytest

from harness.adapters.engine import Engine
from harness.cli.world import make_world
from harness.config import load_config
from harness.errors import EXIT_PASS
from harness.ops.weights import pull_weights
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import Project, unique_repo

pytestmark = pytest.mark.integration

MARKER = "WGP-IMPORTED-MARKER"
HOSTILE_WGP = f"""\
import os
print("{MARKER}", os.environ.get("HF_TOKEN"), flush=True)
for folder in ("/opt/wan2gp/ckpts", "/harness/cache", "/models"):
    try:
        open(os.path.join(folder, "{MARKER}"), "w").write(os.environ.get("HF_TOKEN", ""))
    except OSError:
        pass
"""
UNPRIVILEGED = 10001


@pytest.fixture
def creations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every container created through docker-py in this process: image, command, env, labels, mounts."""
    seen: list[dict[str, Any]] = []
    original = docker.models.containers.ContainerCollection.create

    def create(self: Any, image: str, command: Any = None, **kwargs: Any) -> Any:
        seen.append({"image": image, "command": list(command or []), **kwargs})
        return original(self, image, command, **kwargs)

    monkeypatch.setattr(docker.models.containers.ContainerCollection, "create", create)
    yield seen


def _cache(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    if os.geteuid() == 0:  # a cache owned by root would be refused: the downloader never runs as root
        os.chown(models, UNPRIVILEGED, UNPRIVILEGED)
    return models


def _project(tmp_path: Path, engine: Engine, models: Path) -> Project:
    upstream = tmp_path / "upstream"
    repo = unique_repo("weights")
    config = write_config(tmp_path, upstream=upstream, repo=repo, run_extra=f"  model_cache: {models}\n")
    return Project(folder=tmp_path, upstream=upstream, config=config, repo=repo, engine=engine)


def _env_text(kwargs: dict[str, Any]) -> str:
    env = kwargs.get("environment") or {}
    return json.dumps(env if isinstance(env, dict) else list(env))


def test_pull_never_imports_upstream_and_never_gives_it_the_token(
    tmp_path: Path, engine: Engine, creations: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    models = _cache(tmp_path)
    project = _project(tmp_path, engine, models)
    files = template()
    files["wgp.py"] = HOSTILE_WGP + (files["wgp.py"] or "")
    sha = project.commit("a wgp.py that acts at import", files)
    monkeypatch.setenv("HF_TOKEN", "canary-123")
    code, output = project.run("weights", "pull", "--ref", sha)
    assert code == EXIT_PASS, output
    logs = list((load_config(project.config).state_dir / "weights").rglob("weights.log"))
    assert len(logs) == 1 and "[harness-weights]" not in logs[0].read_text()  # nothing to download
    assert MARKER not in output and MARKER not in logs[0].read_text()
    assert not list(models.iterdir())  # nothing written into the cache by anyone
    with_token = [c for c in creations if "canary-123" in _env_text(c)]
    assert with_token, creations  # the downloader ran (and got the token) ...
    for created in with_token:  # ... in an image with no upstream tree, with no upstream mount
        labels = engine.images.image_labels(created["image"])
        assert labels.get("harness.stage") == "env" and "harness.commit" not in labels, labels
        assert all(str(project.upstream) not in m["Source"] for m in created["mounts"]), created["mounts"]
    for created in creations:  # the token is never a label or a command-line word
        assert "canary-123" not in json.dumps([created["command"], created.get("labels")])


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]
    body = b"tiny weights \x00\x01\x02" * 100

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _seen(server: ThreadingHTTPServer) -> list[tuple[str, str | None]]:
    """What the server's own handler class (one per server) was asked."""
    handler = server.RequestHandlerClass
    assert isinstance(handler, type) and issubclass(handler, _Recorder)
    return handler.seen


@pytest.fixture
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    """Two local servers (loopback only): one origin is trusted with the token, one is not."""
    started = []
    for _ in range(2):
        handler = type("Handler", (_Recorder,), {"seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield started[0], started[1]
    for server in started:
        server.shutdown()
        server.server_close()


class _Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def test_download_lands_in_the_cache_as_non_root_and_the_token_only_as_a_header(
    tmp_path: Path,
    engine: Engine,
    creations: list[dict[str, Any]],
    servers: tuple[ThreadingHTTPServer, ThreadingHTTPServer],
) -> None:
    trusted, other = servers
    origin = f"http://127.0.0.1:{trusted.server_address[1]}"
    weights = f"{origin}/org/tiny/resolve/main/tiny.safetensors"
    lora = f"http://127.0.0.1:{other.server_address[1]}/loras/extra.safetensors"
    models = _cache(tmp_path)
    project = _project(tmp_path, engine, models)
    files = template()
    definition = {"model": {"name": "tiny", "architecture": "t2v", "URLs": [weights], "loras": [lora]}}
    files["defaults/t2v_tiny.json"] = json.dumps(definition)
    sha = project.commit("definitions naming two local files", files)
    cfg = load_config(project.config)
    world = make_world(cfg, _Quiet())
    report = pull_weights(
        cfg,
        world.upstream.resolve(sha),
        upstream=world.upstream,
        builder=world.builder,
        runner=world.runner,
        reporter=_Quiet(),
        run_id="weights-test",
        run_dir=tmp_path / "run",
        token="canary-456",
        token_origins=(origin,),
        host_network=True,
    )
    assert report["errors"] == [], report
    assert [f["url"] for f in report["files"]] == [weights, lora]
    for name in ("tiny.safetensors", "extra.safetensors"):
        st = (models / name).stat()
        assert st.st_size == len(_Recorder.body) and st.st_uid != 0, (name, st)
    assert not list(models.glob("*.part"))
    seen_trusted, seen_other = _seen(trusted), _seen(other)
    assert seen_trusted == [("/org/tiny/resolve/main/tiny.safetensors", "Bearer canary-456")]
    assert seen_other == [("/loras/extra.safetensors", None)]  # another origin never sees it
    (downloader,) = [c for c in creations if "canary-456" in _env_text(c)]
    assert downloader["user"] == f"{UNPRIVILEGED}:{UNPRIVILEGED}" if os.geteuid() == 0 else downloader["user"]
    assert downloader["user"].split(":")[0] != "0"
    writable = [m["Target"] for m in downloader["mounts"] if not m["ReadOnly"]]
    assert writable == ["/harness/cache"] and downloader["read_only"] is True
    for created in creations:
        assert "canary-456" not in json.dumps([created["command"], created.get("labels")])

"""The stdlib downloader (harness/runner/weights.py), in-process against servers on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.runner.weights import pull


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]
    redirect_to = ""

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/moved") and self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"bytes")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _handler(server: ThreadingHTTPServer) -> type[_Handler]:
    """The server's own handler class (one per server: its `seen` and `redirect_to`)."""
    handler = server.RequestHandlerClass
    assert isinstance(handler, type) and issubclass(handler, _Handler)
    return handler


@pytest.fixture
def two() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"seen": []})) for _ in range(2)]
    for server in servers:
        # A short poll: shutdown() waits for the loop to look (0.5 s by default, per server).
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield servers[0], servers[1]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_token_goes_only_to_its_origin_and_never_across_a_redirect(
    tmp_path: Path, two: tuple[ThreadingHTTPServer, ThreadingHTTPServer]
) -> None:
    trusted, cdn = two
    origin = f"http://127.0.0.1:{trusted.server_address[1]}"
    elsewhere = f"http://127.0.0.1:{cdn.server_address[1]}"
    _handler(trusted).redirect_to = f"{elsewhere}/blob/b.bin"
    plan = {
        "files": [
            {"url": f"{origin}/a.bin", "name": "a.bin"},
            {"url": f"{origin}/moved/b.bin", "name": "b.bin"},
            {"url": f"{elsewhere}/c.bin", "name": "c.bin"},
        ],
        "token_origins": [origin],
    }
    assert pull(plan, tmp_path, "canary-789") == 0
    assert _handler(trusted).seen == [
        ("/a.bin", "Bearer canary-789"),
        ("/moved/b.bin", "Bearer canary-789"),
    ]
    assert _handler(cdn).seen == [("/blob/b.bin", None), ("/c.bin", None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin", "c.bin"]
    assert pull(plan, tmp_path, "canary-789") == 0  # present files are not fetched again
    assert len(_handler(trusted).seen) == 2


def test_a_redirect_within_the_trusted_origin_keeps_the_token(
    tmp_path: Path, two: tuple[ThreadingHTTPServer, ThreadingHTTPServer]
) -> None:
    trusted, _ = two
    origin = f"http://127.0.0.1:{trusted.server_address[1]}"
    _handler(trusted).redirect_to = "/renamed/d.bin"
    plan = {"files": [{"url": f"{origin}/moved/d.bin", "name": "d.bin"}], "token_origins": [origin]}
    assert pull(plan, tmp_path, "canary-789") == 0
    assert _handler(trusted).seen == [
        ("/moved/d.bin", "Bearer canary-789"),
        ("/renamed/d.bin", "Bearer canary-789"),
    ]


def test_a_failed_file_is_reported_and_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = {"files": [{"url": "http://127.0.0.1:9/x.bin", "name": "x.bin"}], "token_origins": []}
    assert pull(plan, tmp_path, "") == 1
    assert '"error"' in capsys.readouterr().out and not list(tmp_path.iterdir())

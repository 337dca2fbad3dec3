"""`harness report --serve`: the site's folder over HTTP (the standard library's static server),
for a browser on another machine through a tunnel; the site works from file:// as well."""

from __future__ import annotations

import functools
import http.server
import socket
from typing import Any

from harness.errors import UsageError
from harness.metrics import MetricsAddr


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request log line per thumbnail would drown the terminal

    def end_headers(self) -> None:
        # The pages run no script; say so to the browser too (their meta tag says it as well).
        self.send_header("Content-Security-Policy", "script-src 'none'; object-src 'none'; base-uri 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve_site(root: str, addr: MetricsAddr) -> http.server.ThreadingHTTPServer:
    """A server of `root` bound to `addr` (not serving yet: call serve_forever)."""
    kind = _Server6 if ":" in addr.host else _Server
    try:
        return kind((addr.host, addr.port), functools.partial(_Handler, directory=root))
    except OSError as exc:  # EADDRINUSE, EADDRNOTAVAIL, a name that does not resolve
        raise UsageError(f"--serve {addr}: cannot listen there: {exc.strerror or exc}") from exc

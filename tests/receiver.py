"""A real webhook receiver on 127.0.0.1 for tests (notify, watch): it records the JSON bodies
it accepts and can be told to answer an error, to answer late, or to be down.

    with Receiver() as hook:
        hook.fail_next(2)            # the next two POSTs get HTTP 500 (recorded in .refused)
        ...                          # point a webhook at hook.url
        hook.wait_for(1)             # the accepted bodies, once there are at least 1
        hook.stop(); hook.start()    # down (connection refused), then up on the same port
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: list[tuple[int, float, str]] = []  # (status, delay, answer) for the next requests
        self._released = threading.Event()  # set by stop(): a delayed answer gives up waiting
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # 0 until the first start picks one; kept across stop/start
        self._bodies: list[dict[str, object]] = []
        self._headers: list[dict[str, str]] = []
        self.refused = 0  # requests answered with an error status by fail_next

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hook"

    @property
    def bodies(self) -> list[dict[str, object]]:
        """The JSON bodies accepted (answered 204), in arrival order."""
        with self._lock:
            return list(self._bodies)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The request headers of each accepted body."""
        with self._lock:
            return list(self._headers)

    def fail_next(self, n: int, status: int = 500, answer: str = "") -> None:
        """Answer the next `n` requests with `status` and the text `answer` (a 3xx carries a Location)."""
        with self._lock:
            self._plan.extend([(status, 0.0, answer)] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """Accept the next `n` requests only after `seconds` (a client's timeout test)."""
        with self._lock:
            self._plan.extend([(204, seconds, "")] * n)

    def start(self) -> None:
        """Listen (again: on the same port after a stop, so a configured URL stays valid)."""
        assert self._server is None, "the receiver is already up"
        self._released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: a client's connection is refused until start()."""
        if self._server is None:
            return
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[dict[str, object]]:
        """The accepted bodies once there are at least `n`; AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.bodies) < n:
            assert time.monotonic() < deadline, f"the receiver got {len(found)} of {n} bodies: {found}"
            time.sleep(0.02)
        return found

    def _answer(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """The status and text for one request; records it when accepted."""
        with self._lock:
            status, delay, answer = self._plan.pop(0) if self._plan else (204, 0.0, "")
        if delay:
            self._released.wait(delay)
        if status >= 300:
            with self._lock:
                self.refused += 1
            return status, answer
        try:
            doc = json.loads(body)
        except ValueError:
            return 400, "not JSON"
        with self._lock:
            self._bodies.append(doc)
            self._headers.append(headers)
        return status, answer


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = receiver._answer(body, dict(self.headers.items()))
            data = answer.encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{receiver.url}/moved")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # pytest output stays the test's own

    return Handler

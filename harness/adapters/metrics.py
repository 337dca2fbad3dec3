"""Prometheus metrics of `harness watch` (the only importer of prometheus_client).

Everything goes to a private CollectorRegistry, never the library's global one: the endpoint
shows what watch records and nothing else (no process or platform collectors), and tests or
two watchers in one process never register a metric twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from harness.errors import UsageError
from harness.metrics import MetricsAddr

# A contract check takes seconds, a baseline on a GPU up to an hour or more.
RUN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class PrometheusMetrics:
    """ports.Metrics recorded into `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._runs = Counter(
            "harness_runs", "Runs watch finished, by level and verdict", ["level", "verdict"], registry=registry
        )
        self._seconds = Histogram(
            "harness_run_seconds",
            "Duration of a run, build included",
            ["level"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self._last_success = Gauge(
            "harness_last_success_timestamp_seconds", "When the last passing run finished (epoch)", registry=registry
        )
        self._queue = Gauge(
            "harness_watch_queue_length", "Commits and steps waiting in watch's queue", registry=registry
        )
        self._escalations = Counter(
            "harness_escalations", "Escalations: the same infra failure several times in a row", registry=registry
        )
        self._heartbeat = Gauge(
            "harness_watch_heartbeat_timestamp_seconds", "The watcher's last sign of life (epoch)", registry=registry
        )

    def run_finished(self, *, level: str, verdict: str, seconds: float) -> None:
        self._runs.labels(level=level, verdict=verdict).inc()
        self._seconds.labels(level=level).observe(seconds)

    def succeeded(self, at: float) -> None:
        self._last_success.set(at)

    def queue_length(self, n: int) -> None:
        self._queue.set(n)

    def escalated(self) -> None:
        self._escalations.inc()

    def heartbeat(self, at: float) -> None:
        self._heartbeat.set(at)


@dataclass(frozen=True, kw_only=True)
class MetricsServer:
    """The running endpoint: `metrics` to record into, `addr` as bound (the real port when 0
    was asked), `close()` (or `with`) to stop serving."""

    metrics: PrometheusMetrics
    addr: MetricsAddr
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.addr}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


def serve_metrics(addr: MetricsAddr) -> MetricsServer:
    """Serve a fresh registry's metrics on `addr` from a daemon thread (GET /metrics).

    The address is taken as given: parse_metrics_addr decided whether it may leave the
    loopback. A port in use or an address the host lacks is the operator's to change: exit 128."""
    registry = CollectorRegistry(auto_describe=True)
    metrics = PrometheusMetrics(registry)
    try:
        server, thread = start_http_server(addr.port, addr=addr.host, registry=registry)
    except OSError as exc:  # EADDRINUSE, EADDRNOTAVAIL, a name that does not resolve
        raise UsageError(
            f"--metrics {addr}: cannot serve there ({exc.strerror or exc}); pick another port or host"
        ) from exc
    bound = MetricsAddr(host=addr.host, port=int(server.server_address[1]))
    return MetricsServer(metrics=metrics, addr=bound, _server=server, _thread=thread)

"""The metrics endpoint on a real socket (no engine needed): what a Prometheus scrape reads."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from harness.adapters.metrics import serve_metrics
from harness.errors import UsageError
from harness.metrics import MetricsAddr


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return str(response.read().decode())


def test_a_scrape_shows_what_was_recorded() -> None:
    with serve_metrics(MetricsAddr(host="127.0.0.1", port=0)) as server:
        assert server.addr.port != 0
        server.metrics.run_finished(level="contract", verdict="PASS", seconds=4)
        server.metrics.run_finished(level="smoke", verdict="FAIL", seconds=70)
        server.metrics.succeeded(1_700_000_000)
        server.metrics.queue_length(2)
        server.metrics.escalated()
        server.metrics.escalated()
        server.metrics.heartbeat(1_700_000_050)
        lines = set(_scrape(server.url).splitlines())
    assert {
        'harness_runs_total{level="contract",verdict="PASS"} 1.0',
        'harness_runs_total{level="smoke",verdict="FAIL"} 1.0',
        'harness_run_seconds_bucket{le="60.0",level="smoke"} 0.0',
        'harness_run_seconds_bucket{le="120.0",level="smoke"} 1.0',
        'harness_run_seconds_sum{level="smoke"} 70.0',
        "harness_last_success_timestamp_seconds 1.7e+09",
        "harness_watch_queue_length 2.0",
        "harness_escalations_total 2.0",
        "harness_watch_heartbeat_timestamp_seconds 1.70000005e+09",
    } <= lines
    # A private registry: none of the library's default process/platform collectors.
    assert not [line for line in lines if line.startswith(("process_", "python_"))]


def test_close_stops_serving_and_frees_the_port() -> None:
    server = serve_metrics(MetricsAddr(host="127.0.0.1", port=0))
    url, port = server.url, server.addr.port
    _scrape(url)
    server.close()
    with pytest.raises(urllib.error.URLError):
        _scrape(url)
    # The same port can be served again at once (a restarted watcher).
    with serve_metrics(MetricsAddr(host="127.0.0.1", port=port)) as again:
        assert again.addr.port == port


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        server = serve_metrics(MetricsAddr(host="::1", port=0))
    except UsageError as exc:
        pytest.skip(f"::1 not configured here: {exc}")
    with server:
        assert server.url.startswith("http://[::1]:")
        assert "harness_watch_queue_length 0.0" in _scrape(server.url)


def test_a_port_in_use_is_a_usage_error_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=rf"--metrics 127\.0\.0\.1:{port}: cannot serve there"):
            serve_metrics(MetricsAddr(host="127.0.0.1", port=port))

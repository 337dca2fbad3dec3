"""--metrics addresses (harness/metrics.py) and what PrometheusMetrics records (no server here:
the endpoint is tests/integration/test_metrics_server.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from harness.adapters.metrics import PrometheusMetrics
from harness.errors import EXIT_USAGE, UsageError
from harness.metrics import MetricsAddr, NullMetrics, is_loopback, parse_metrics_addr
from harness.ports import Metrics


@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("9108", "127.0.0.1", 9108, "127.0.0.1:9108"),
        (" 9108 ", "127.0.0.1", 9108, "127.0.0.1:9108"),
        ("127.0.0.1:9108", "127.0.0.1", 9108, "127.0.0.1:9108"),
        ("127.0.0.2:1", "127.0.0.2", 1, "127.0.0.2:1"),
        ("localhost:65535", "localhost", 65535, "localhost:65535"),
        ("[::1]:9108", "::1", 9108, "[::1]:9108"),
    ],
)
def test_loopback_addresses_parse(text: str, host: str, port: int, shown: str) -> None:
    addr = parse_metrics_addr(text, any_host=False)
    assert addr == MetricsAddr(host=host, port=port)
    assert str(addr) == shown


@pytest.mark.parametrize("text", ["0.0.0.0:9108", "192.168.1.20:9108", "[::]:9108", "[fe80::1]:9108", "metrics:9108"])
def test_a_host_off_the_loopback_is_refused_and_says_why(text: str) -> None:
    with pytest.raises(UsageError, match=r"not a loopback address.*reveal commits.*--metrics-any-host") as caught:
        parse_metrics_addr(text, any_host=False)
    assert caught.value.exit_code == EXIT_USAGE
    assert text in str(caught.value)


def test_any_host_lets_it_through() -> None:
    assert parse_metrics_addr("0.0.0.0:9108", any_host=True) == MetricsAddr(host="0.0.0.0", port=9108)
    assert parse_metrics_addr("[::]:9", any_host=True) == MetricsAddr(host="::", port=9)


@pytest.mark.parametrize(
    "text", ["0", "65536", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:http", "[::1]:", "localhost:-1"]
)
def test_a_bad_port_names_the_value_and_the_range(text: str) -> None:
    with pytest.raises(UsageError, match=r"port '.*' is not a number from 1 to 65535"):
        parse_metrics_addr(text, any_host=True)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("::1:9108", "not an address"),
        ("127.0.0.1", "not an address"),
        ("[127.0.0.1]:9108", "in brackets is not an IPv6 address"),
        (":9108", "no host"),
        ("", "not an address"),
    ],
)
def test_malformed_addresses_show_the_forms(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=rf"{problem}.*\[IPv6\]:PORT"):
        parse_metrics_addr(text, any_host=True)


def test_loopback_is_decided_on_the_address_not_the_spelling() -> None:
    assert is_loopback("127.8.9.10") and is_loopback("::1") and is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("localhost.example.org")


def test_prometheus_metrics_record_what_watch_reports() -> None:
    registry = CollectorRegistry()
    metrics: Metrics = PrometheusMetrics(registry)
    metrics.run_finished(level="smoke", verdict="PASS", seconds=12.5)
    metrics.run_finished(level="smoke", verdict="PASS", seconds=2.5)
    metrics.run_finished(level="baseline", verdict="FAIL", seconds=900)
    metrics.succeeded(1_700_000_000.0)
    metrics.queue_length(3)
    metrics.escalated()
    metrics.heartbeat(1_700_000_100.0)
    value = registry.get_sample_value
    assert value("harness_runs_total", {"level": "smoke", "verdict": "PASS"}) == 2
    assert value("harness_runs_total", {"level": "baseline", "verdict": "FAIL"}) == 1
    assert value("harness_runs_total", {"level": "baseline", "verdict": "PASS"}) is None
    assert value("harness_run_seconds_sum", {"level": "smoke"}) == 15
    assert value("harness_run_seconds_bucket", {"level": "baseline", "le": "600.0"}) == 0
    assert value("harness_run_seconds_bucket", {"level": "baseline", "le": "1200.0"}) == 1
    assert value("harness_last_success_timestamp_seconds") == 1_700_000_000
    assert value("harness_watch_queue_length") == 3
    assert value("harness_escalations_total") == 1
    assert value("harness_watch_heartbeat_timestamp_seconds") == 1_700_000_100


def test_two_recorders_never_share_a_registry() -> None:
    # The global registry would refuse the second set of names ("Duplicated timeseries").
    first, second = PrometheusMetrics(CollectorRegistry()), PrometheusMetrics(CollectorRegistry())
    first.escalated()
    assert second.registry.get_sample_value("harness_escalations_total") == 0


def test_null_metrics_take_every_call() -> None:
    metrics: Metrics = NullMetrics()
    metrics.run_finished(level="contract", verdict="ERROR", seconds=1)
    metrics.succeeded(0)
    metrics.queue_length(0)
    metrics.escalated()
    metrics.heartbeat(0)

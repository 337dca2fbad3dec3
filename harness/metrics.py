"""Where watch's Prometheus metrics are served, and the no-op Metrics when they are not (pure).

`--metrics ADDR` is off by default; when given, it binds the loopback only unless the operator
says otherwise (`--metrics-any-host`): the metrics name commits, verdicts and the watcher's
state, which is more than an unauthenticated port should tell the network by accident.
The HTTP server itself lives in adapters/metrics.py (the only importer of prometheus_client).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from harness.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
PORTS = range(1, 65536)
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>[^:]*)\Z")
_FORMS = "PORT, HOST:PORT or [IPv6]:PORT (e.g. 9108, 127.0.0.1:9108, [::1]:9108)"


@dataclass(frozen=True, kw_only=True)
class MetricsAddr:
    host: str  # an IP literal or a name, without brackets
    port: int  # 0: any free port (tests; parse_metrics_addr never gives it)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost; any other name counts as reachable from outside
    (what it resolves to can change)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(text: str) -> tuple[str, str]:
    if text.isdigit():
        return DEFAULT_HOST, text
    match = _HOST_PORT.match(text)
    if match is None:
        raise UsageError(f"--metrics {text!r}: not an address; write {_FORMS}")
    host = match["v6"] if match["v6"] is not None else match["host"]
    if match["v6"] is not None and not _is_ipv6(host):
        raise UsageError(f"--metrics {text!r}: {host!r} in brackets is not an IPv6 address; write {_FORMS}")
    if not host:
        raise UsageError(f"--metrics {text!r}: no host; write {_FORMS} (0.0.0.0 for every interface)")
    return host, match["port"]


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def parse_metrics_addr(
    text: str,
    *,
    any_host: bool,
    option: str = "--metrics",
    reveals: str = "the metrics reveal commits, verdicts and the watcher's state",
) -> MetricsAddr:
    """`--metrics` (or `option`: `report --serve`) as given: "9108" is 127.0.0.1:9108;
    "HOST:PORT"; "[IPv6]:PORT". A host other than the loopback is refused unless `any_host`
    (`{option}-any-host`)."""
    text = text.strip()
    host, port_text = _split(text)
    if not port_text.isdigit() or int(port_text) not in PORTS:
        raise UsageError(
            f"{option} {text!r}: port {port_text!r} is not a number from {PORTS.start} to {PORTS.stop - 1}"
        )
    addr = MetricsAddr(host=host, port=int(port_text))
    if not any_host and not is_loopback(host):
        raise UsageError(
            f"{option} {text!r}: {host} is not a loopback address, and {reveals} to whoever reaches the "
            f"port (no authentication). Serve on {DEFAULT_HOST} (the default: {option} {addr.port}) and reach "
            f"it through a tunnel or a proxy, or add {option}-any-host to expose it on purpose"
        )
    return addr


class NullMetrics:
    """ports.Metrics that records nothing: watch without --metrics, and unit tests."""

    def run_finished(self, *, level: str, verdict: str, seconds: float) -> None:
        pass

    def succeeded(self, at: float) -> None:
        pass

    def queue_length(self, n: int) -> None:
        pass

    def escalated(self) -> None:
        pass

    def heartbeat(self, at: float) -> None:
        pass

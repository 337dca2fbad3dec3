"""GPU telemetry and output drift, computed from samples and frames (pure).

Samples come from NVML on the host while the test container runs; case windows from the
runner's own log markers. A case whose GPU memory at its end (after the runner freed what
it could) stays well above its start is flagged as a leak. Drift is the PSNR of a case's
frames against the last-good image's output for the same case and seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

START = re.compile(r"\[harness-runner\] case (\S+) \(")
END = re.compile(r"\[harness-runner\] case (\S+): ")
LEAK_MIB = 1024.0  # tolerance: allocator caches, cuDNN plans and driver state move by less than this


@dataclass(frozen=True, kw_only=True)
class Sample:
    t: float  # monotonic seconds
    used_mib: float  # device memory used, all GPUs given
    util: float  # mean utilisation, percent


@dataclass(frozen=True, kw_only=True)
class CaseTelemetry:
    peak_mib: float
    util_mean: float
    leak_mib: float
    leaked: bool


def case_windows(lines: list[tuple[float, str]]) -> dict[str, tuple[float, float]]:
    """(start, end) per case from timestamped runner log lines."""
    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for t, line in lines:
        if m := START.search(line):
            starts[m[1]] = t
        elif (m := END.search(line)) and m[1] in starts:
            windows[m[1]] = (starts[m[1]], t)
    return windows


def _nearest(samples: list[Sample], t: float) -> Sample:
    return min(samples, key=lambda s: abs(s.t - t))


def case_telemetry(
    samples: list[Sample], windows: dict[str, tuple[float, float]], leak_mib: float = LEAK_MIB
) -> dict[str, CaseTelemetry]:
    out: dict[str, CaseTelemetry] = {}
    if not samples:
        return out
    for case, (start, end) in windows.items():
        inside = [s for s in samples if start <= s.t <= end] or [_nearest(samples, (start + end) / 2)]
        leak = _nearest(samples, end).used_mib - _nearest(samples, start).used_mib
        out[case] = CaseTelemetry(
            peak_mib=max(s.used_mib for s in inside),
            util_mean=sum(s.util for s in inside) / len(inside),
            leak_mib=round(leak, 1),
            leaked=leak > leak_mib,
        )
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float | None:
    """PSNR in dB of two (N, H, W) uint8 clips over their common frames; None if shapes differ."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:] or not len(a) or not len(b):
        return None
    n = min(len(a), len(b))
    mse = float(np.mean((a[:n].astype(np.float64) - b[:n].astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)

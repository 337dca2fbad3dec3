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

from harness.model import Sample

START = re.compile(r"\[harness-runner\] case (\S+) \(")
END = re.compile(r"\[harness-runner\] case (\S+): ")
USED = re.compile(r"\[gpu_used_mib=([0-9.]+)\]\s*$")
LEAK_MIB = 1024.0  # tolerance: allocator caches, cuDNN plans and driver state move by less than this


@dataclass(frozen=True, kw_only=True)
class CaseTelemetry:
    peak_mib: float
    util_mean: float
    leak_mib: float
    leaked: bool


@dataclass(frozen=True, kw_only=True)
class Window:
    start: float
    end: float
    used_start: float | None = None  # device memory the runner measured at its markers, if it could
    used_end: float | None = None


def _used(line: str) -> float | None:
    m = USED.search(line)
    return float(m[1]) if m else None


def case_windows(lines: list[tuple[float, str]]) -> dict[str, Window]:
    """Per case, its window from timestamped runner log lines (and in-process memory readings)."""
    starts: dict[str, tuple[float, float | None]] = {}
    windows: dict[str, Window] = {}
    for t, line in lines:
        if m := START.search(line):
            starts[m[1]] = (t, _used(line))
        elif (m := END.search(line)) and m[1] in starts:
            begun, used = starts[m[1]]
            windows[m[1]] = Window(start=begun, end=t, used_start=used, used_end=_used(line))
    return windows


def _at(samples: list[Sample], t: float) -> Sample:
    """The last sample taken at or before `t` (the first one if none was)."""
    before = [s for s in samples if s.t <= t]
    return before[-1] if before else samples[0]


def case_telemetry(
    samples: list[Sample], windows: dict[str, Window], leak_mib: float = LEAK_MIB
) -> dict[str, CaseTelemetry]:
    """Peak and mean utilisation from the host's samples inside each case's window; the leak
    from the runner's own readings at its markers when it gave them (host samples race cases
    shorter than the sampling period), else from the samples at the markers."""
    out: dict[str, CaseTelemetry] = {}
    if not samples:
        return out
    for case, w in windows.items():
        inside = [s for s in samples if w.start <= s.t <= w.end] or [_at(samples, (w.start + w.end) / 2)]
        if w.used_start is not None and w.used_end is not None:
            leak = w.used_end - w.used_start
        else:
            leak = _at(samples, w.end).used_mib - _at(samples, w.start).used_mib
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

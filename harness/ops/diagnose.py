"""Why production no longer passes on this host: the host's reasons, for watch's re-validation.

Production's image passed once; when its baseline fails here now, upstream changed nothing:
the host did (a driver update, another process holding VRAM, weights deleted from the cache,
a full disk). `host_reasons` says which of those it sees, the run's own failing cases last, so
the event a person reads names the cause before the symptoms.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.config import Config
from harness.model import RunRecord, Verdict
from harness.ops.weights import plan_weights
from harness.ports import GpuProbe, Upstream
from harness.preflight import GpuInfo, host_problems

# A failure that names these is the GPU stack's: the driver in use is worth saying. CUDA's own
# out-of-memory is VRAM's (said by the free-memory check), not the driver's.
_DRIVER_WORDS = re.compile(r"cuda|cudnn|cublas|nvml|nccl|driver", re.IGNORECASE)
_OOM = re.compile(r"out of memory", re.IGNORECASE)
# Below this a baseline's videos, logs and the store's writes may not fit (a run writes a few
# hundred MiB at most; a full disk fails it as ERROR, diskfull.py).
MIN_FREE_DISK_GIB = 2.0


def disk_free(path: Path) -> int:
    """Free bytes for an unprivileged writer where `path` lives (the default `disk`)."""
    return shutil.disk_usage(path).free


def cached_names(cache: Path) -> set[str]:
    """File names anywhere in the model cache: as the runner looks them up (runner/missing.py)."""
    return {p.name for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()


def suite_weights(cfg: Config, upstream: Upstream, sha: str) -> tuple[str, ...]:
    """The cache file names the suite's models need at `sha` (production's commit): its model
    definitions read from git and the suite's overlays, as `weights pull` resolves them."""
    models = tuple(case.model for case in cfg.suite.cases)
    return tuple(f.name for f in plan_weights(upstream, sha, cfg.suite.overlays, models).files)


def host_reasons(
    *,
    record: RunRecord | None,
    gpu: GpuProbe,
    needs_gpu: bool,
    min_free_gib: float,
    model_cache: Path | None,
    wanted_weights: tuple[str, ...],
    disk: Callable[[Path], int],
    paths: tuple[Path, ...],
    min_free_disk_gib: float = MIN_FREE_DISK_GIB,
    cache_files: Callable[[Path], set[str]] = cached_names,
) -> tuple[str, ...]:
    """What on this host stops production's baseline: GPU (none visible, driver, VRAM), weights
    missing from the cache, disk short under `paths`, then `record`'s failing cases (its summary
    when it has none). Empty when nothing is seen. Each reason is one line, once.

    `needs_gpu`: the suite runs on a GPU (ops/gpu_checks.wants_gpu); without it the GPU is
    looked at only when the run's failure names CUDA or the driver.
    """
    reasons = [
        *_gpu_reasons(record, gpu, needs_gpu, min_free_gib),
        *_weights_reasons(model_cache, wanted_weights, cache_files),
        *_disk_reasons(paths, disk, min_free_disk_gib),
        *_run_reasons(record),
    ]
    return tuple(dict.fromkeys(reasons))


def _gpu_reasons(record: RunRecord | None, gpu: GpuProbe, needs_gpu: bool, min_free_gib: float) -> list[str]:
    names_driver = _names_driver(record)
    if not needs_gpu and not names_driver:
        return []
    gpus, error = gpu.gpus()
    if not gpus:
        return [f"no GPU visible: {error or 'NVML sees no device'}"]
    reasons = [_driver_line(gpus)] if names_driver else []
    if needs_gpu:  # preflight's wording: "GPU 0 (H200) has 3.1 GiB free; the suite needs 24 GiB (...)"
        reasons += host_problems(gpus, error, min_free_gib=min_free_gib)
    return reasons


def _names_driver(record: RunRecord | None) -> bool:
    if record is None or record.verdict is Verdict.PASS:
        return False
    texts = [record.summary, *(t for c in record.cases for t in (*c.reasons, c.error))]
    return any(_DRIVER_WORDS.search(t) and not _OOM.search(t) for t in texts)


def _driver_line(gpus: list[GpuInfo]) -> str:
    """The driver(s) in use and the GPUs on each: "driver 550.54 (GPU 0 NVIDIA H200)"."""
    by_driver: dict[str, list[str]] = {}
    for g in gpus:
        by_driver.setdefault(g.driver or "unknown", []).append(f"GPU {g.index} {g.name}")
    return "; ".join(f"driver {driver} ({', '.join(names)})" for driver, names in by_driver.items())


def _weights_reasons(cache: Path | None, wanted: tuple[str, ...], cache_files: Callable[[Path], set[str]]) -> list[str]:
    if not wanted:
        return []
    if cache is None:
        return [f"weights: no model cache is configured (run.model_cache); the suite needs {len(wanted)} files"]
    try:
        have = cache_files(cache)
    except OSError as exc:
        return [f"weights: the model cache {cache} cannot be read ({exc.strerror or exc})"]
    missing = [name for name in dict.fromkeys(wanted) if name not in have]
    return [f"weights missing in {cache}: {', '.join(missing)}"] if missing else []


def _disk_reasons(paths: tuple[Path, ...], disk: Callable[[Path], int], min_free_gib: float) -> list[str]:
    reasons = []
    for path in dict.fromkeys(paths):
        try:
            free = disk(path)
        except OSError as exc:
            reasons.append(f"disk: {path} cannot be checked ({exc.strerror or exc})")
            continue
        if free < min_free_gib * 2**30:
            reasons.append(f"disk: {path} has {free / 2**30:.1f} GiB free")
    return reasons


def _run_reasons(record: RunRecord | None) -> list[str]:
    """The run's own failing cases, each with its reasons; the summary when no case says more."""
    if record is None or record.verdict is Verdict.PASS:
        return []
    lines = [
        f"case {c.case_id} ({c.model}): {'; '.join(c.reasons) or c.error or c.verdict.value}"
        for c in record.cases
        if c.verdict is not Verdict.PASS
    ]
    return lines or [f"run {record.run_id}: {record.summary or record.verdict.value}"]

"""GPU preflight as a use case: host checks before the build, the image's arch after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.naming import LAST_GOOD
from harness.plan import GpuNeeds
from harness.ports import GpuProbe, ImageBuilder, RunStore
from harness.preflight import arch_problem, env_problem, host_problems


def wants_gpu(needs: GpuNeeds, gpu: GpuProbe) -> bool:
    """The run will use a GPU of this host: asked for explicitly, needed by the suite, or `auto`
    finds nodes (never on a fleet: its nodes' GPUs are not this host's to check)."""
    if needs.mode == "none" or needs.remote:
        return False
    return needs.mode != "auto" or needs.requires_gpu or any(n.startswith("/dev/nvidia") for n in gpu.device_nodes())


def host_preflight(needs: GpuNeeds, gpu: GpuProbe) -> str | None:
    """One message naming every host problem, or None. Only when the run will use a GPU."""
    if not wants_gpu(needs, gpu):
        return None
    gpus, error = gpu.gpus()
    unknown = [i for i in needs.gpus if i not in {g.index for g in gpus}]
    if unknown and gpus:
        return (
            f"run.gpus asks for GPU {', '.join(map(str, unknown))}; this host has "
            f"{', '.join(str(g.index) for g in gpus)}"
        )
    used = [g for g in gpus if not needs.gpus or g.index in needs.gpus]
    problems = host_problems(used, error, min_free_gib=needs.min_free_gib)
    if problems and not needs.requires_gpu and needs.mode == "auto":
        return None  # auto on a host whose GPU is unusable: the run plan falls back to the CPU, said there
    return "; ".join(problems) or None


def image_preflight(needs: GpuNeeds, gpu: GpuProbe, builder: ImageBuilder, image: str) -> str | None:
    """Whether torch in the image can run on the host's GPU (before any GPU time is spent)."""
    if not wants_gpu(needs, gpu):
        return None
    problem = env_problem(builder.image_env(image))
    if problem:
        return problem
    gpus, _ = gpu.gpus()
    if not gpus:
        return None
    return arch_problem(builder.torch_arch_list(image), gpus[0])


@dataclass(frozen=True, kw_only=True)
class DriftReference:
    """The run a new run's videos are compared with (its id is kept with each drifting case, so
    the report can show that run's contact sheet beside the new one) and its video per case."""

    run_id: str = ""
    videos: dict[str, Path] = field(default_factory=dict)


def drift_reference(store: RunStore, suite_hash: str) -> DriftReference:
    """The last-good run's video per case, when it ran the same suite (so the same seeds)."""
    pointer = store.pointer(LAST_GOOD)
    record = store.run(pointer.run_id) if pointer else None
    if record is None or record.suite_hash != suite_hash:
        return DriftReference()
    videos = {c.case_id: Path(c.output_path) for c in record.cases if c.output_path and Path(c.output_path).is_file()}
    return DriftReference(run_id=record.run_id, videos=videos)

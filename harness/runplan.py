"""Plan the test container as data: mounts, GPU access, environment, labels, deadline.

GPU modes (ARCHITECTURE.md): `nvidia` asks the engine for a DeviceRequest (needs the NVIDIA
container runtime); `devices` passes /dev/nvidia* nodes and mounts the driver folder
read-only (no runtime needed); `none` runs on the CPU. `auto` picks by what is there.
A suite that needs a GPU never falls back to the CPU: it raises NoGpuError (exit 125).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.config import GENERATED, GENERATED_MASK, Case, Suite
from harness.errors import NoGpuError
from harness.limits import Limits
from harness.model import GpuMode
from harness.plan import WrapperPlan

IN_DIR = "/harness/in"
OUT_DIR = "/harness/out"
UPSTREAM_DIR = "/opt/wan2gp"
WRAPPER_DIR = "/opt/wrapper"  # wrapper mode (context.py: /opt/wan2gp links to its upstream folder)
MODEL_DIR = f"{UPSTREAM_DIR}/ckpts"
DRIVER_TARGET = "/usr/local/nvidia"
_GPU_NODE = re.compile(r"/dev/nvidia[0-9]+\Z")
_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


@dataclass(frozen=True, kw_only=True)
class Mount:
    source: str
    target: str
    read_only: bool


@dataclass(frozen=True, kw_only=True)
class GpuPlan:
    mode: GpuMode
    reason: str
    device_request: bool = False
    device_ids: tuple[int, ...] = ()  # nvidia mode: these GPUs only (empty: all)
    devices: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()


SCRATCH = "/scratch"


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    image: str
    command: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    environment: tuple[tuple[str, str], ...]
    gpu: GpuPlan
    timeout_s: float
    name: str
    network: bool = False  # test runs have none; only `weights pull` needs it
    host_network: bool = False  # weights pull from a server on the host's loopback (tests)
    limits: Limits = field(default_factory=Limits)
    # The host folder mounted at OUT_DIR, policed against limits.max_output_bytes while it runs
    # ("" for none): the container writes it, the state's disk holds it.
    output_dir: str = ""


@dataclass(frozen=True, kw_only=True)
class ContainerExit:
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    seconds: float
    killed_for: str = ""  # "deadline", "silence" or "output" (wrote past its cap) when harness killed it
    node: str = ""  # on a fleet: the hostname of the Swarm node that ran it ("" locally)
    image_digest: str = ""  # on a fleet: the registry digest the node pulled ("" locally)


# The engine keeps its own copy of every container's output (json-file): without a size it grew
# to 1.1 GB while harness capped its copy at 64 MiB. Harness follows the stream as it comes, so
# rotation loses nothing of what it keeps; the engine's copy stays under 2 x 32 MiB.
ENGINE_LOG_DRIVER = "json-file"
ENGINE_LOG_OPTIONS = (("max-size", "32m"), ("max-file", "2"))


def plan_gpu(
    mode: GpuMode,
    *,
    runtimes: set[str],
    nodes: tuple[str, ...],
    driver_dir: str | None,
    required: bool,
    gpus: tuple[int, ...] = (),
) -> GpuPlan:
    """Resolve the configured GPU mode against what the engine and host offer."""
    nodes_found = tuple(sorted(n for n in nodes if _GPU_NODE.match(n)))
    wanted = tuple(f"/dev/nvidia{i}" for i in gpus)
    missing = [n for n in wanted if n not in nodes_found]
    if missing and mode == "devices":
        raise NoGpuError(f"run.gpus asks for {', '.join(missing)}, which this host does not have")
    gpu_nodes = wanted or nodes_found
    has_devices = bool(gpu_nodes) and not missing and "/dev/nvidiactl" in nodes
    if mode == "auto":
        if "nvidia" in runtimes:
            mode = "nvidia"
        elif has_devices and driver_dir:
            mode = "devices"
        else:
            mode = "none"
            why = (
                "no NVIDIA container runtime in the engine, "
                f"{'no /dev/nvidia* device nodes' if not has_devices else 'no driver folder'} on the host"
            )
            if required:
                raise NoGpuError(f"the suite needs a GPU but none is usable here: {why}")
            return GpuPlan(mode="none", reason=f"auto: {why}; running on the CPU")
    match mode:
        case "nvidia":
            if "nvidia" not in runtimes:
                hint = " (gpu: devices would work: device nodes are present)" if has_devices else ""
                raise NoGpuError(f"gpu: nvidia needs the NVIDIA container runtime, which this engine lacks{hint}")
            return GpuPlan(
                mode="nvidia", reason="DeviceRequest through the NVIDIA runtime", device_request=True, device_ids=gpus
            )
        case "devices":
            if not has_devices or not driver_dir:
                raise NoGpuError(
                    "gpu: devices needs /dev/nvidia0.. and /dev/nvidiactl and the driver "
                    f"folder; found nodes {list(nodes) or 'none'}, driver folder {driver_dir or 'none'}"
                )
            controls = tuple(n for n in _CONTROL_NODES if n in nodes)
            lib = f"{DRIVER_TARGET}/lib64:{DRIVER_TARGET}/lib"
            return GpuPlan(
                mode="devices",
                reason=f"explicit device nodes {', '.join(gpu_nodes)}",
                devices=gpu_nodes + controls,
                mounts=(Mount(source=driver_dir, target=DRIVER_TARGET, read_only=True),),
                environment=(("LD_LIBRARY_PATH", lib), ("PATH_NVIDIA", f"{DRIVER_TARGET}/bin")),
            )
        case "none":
            if required:
                raise NoGpuError("the suite needs a GPU but gpu: none is configured")
            return GpuPlan(mode="none", reason="gpu: none")


def case_settings(case: Case, inputs: dict[str, str]) -> dict[str, object]:
    """One case as Wan2GP task settings; `inputs` maps host input paths to container paths."""
    settings: dict[str, object] = {
        "model_type": case.model,
        "prompt": case.prompt,
        "negative_prompt": case.negative_prompt,
        "resolution": f"{case.width}x{case.height}",
        "video_length": case.frames,
        "num_inference_steps": case.steps,
        "seed": case.seed,
        "guidance_scale": case.guidance,
        "flow_shift": case.flow_shift,
    }
    prompt_type = ""
    if case.guide_video:
        settings["video_guide"] = inputs[case.guide_video]
        prompt_type += "V"
    if case.mask_video:
        settings["video_mask"] = inputs[case.mask_video]
        prompt_type += "M"
    if prompt_type:
        settings["video_prompt_type"] = prompt_type
    return settings


def input_files(suite: Suite) -> dict[str, str]:
    """Host input file -> its path inside the container (under IN_DIR, name made unique)."""
    mapping: dict[str, str] = {}
    for case in suite.cases:
        for path in (case.guide_video, case.mask_video):
            if path and path not in mapping:
                generated = {GENERATED: "generated-sample.mp4", GENERATED_MASK: "generated-mask.mp4"}
                name = generated.get(path) or PurePosixPath(path).name
                mapping[path] = str(PurePosixPath(IN_DIR) / f"{len(mapping)}-{name}")
    return mapping


def runner_spec(suite: Suite, run_id: str, inputs: dict[str, str]) -> dict[str, object]:
    return {
        "run_id": run_id,
        "description": f"harness suite {suite.name}",
        "cases": [{"id": c.id, "settings": case_settings(c, inputs)} for c in suite.cases],
    }


@dataclass(frozen=True, kw_only=True)
class SuiteContainer:
    """A suite's run as data: the inputs to copy in, the runner's spec.json, the container."""

    inputs: tuple[tuple[str, str], ...]  # (host input file or GENERATED*, its path inside the container)
    spec: str  # spec.json
    request: RunRequest


def runner_args(limits: Limits) -> tuple[str, ...]:
    """A read-only image root means the runner works on a copy of the upstream tree in /scratch."""
    return ("--writable-copy", SCRATCH) if limits.read_only_root else ()


def wrapper_args(wrapper: WrapperPlan | None) -> tuple[str, ...]:
    """Wrapper mode: the runner runs the wrapper's test command in its folder instead of the suite."""
    if wrapper is None:
        return ()
    return (
        "--root",
        WRAPPER_DIR,
        "--wrapper-command",
        wrapper.command,
        "--wrapper-results",
        wrapper.results,
        "--wrapper-upstream-dir",
        wrapper.upstream_dir,
    )


def suite_container(
    *,
    suite: Suite,
    limits: Limits,
    model_cache: Path | None,
    timeout_s: float,
    image: str,
    run_id: str,
    run_dir: str,
    labels: dict[str, str],
    gpu: GpuPlan,
    smoke: bool,
    wrapper: WrapperPlan | None = None,
) -> SuiteContainer:
    """The test container of `run_dir`: its in/ read-only, its out/ writable, the model cache
    read-only; with `smoke`, only an import of upstream on the CPU; with `wrapper`, the wrapper's
    own test command."""
    in_dir, out_dir = f"{run_dir}/in", f"{run_dir}/out"
    mounts = [
        Mount(source=in_dir, target=IN_DIR, read_only=True),
        Mount(source=out_dir, target=OUT_DIR, read_only=False),
    ]
    if model_cache is not None:
        mounts.append(Mount(source=str(model_cache), target=MODEL_DIR, read_only=True))
    inputs = input_files(suite)
    request = RunRequest(
        image=image,
        command=(
            *(("--smoke",) if smoke else wrapper_args(wrapper)),
            *runner_args(limits),
            "--spec",
            f"{IN_DIR}/spec.json",
            "--out",
            OUT_DIR,
        ),
        labels=tuple(sorted({**labels, "harness.purpose": "smoke" if smoke else "test"}.items())),
        mounts=tuple(mounts),
        environment=(("CUDA_VISIBLE_DEVICES", ""),) if smoke else (),
        gpu=gpu,
        timeout_s=timeout_s,
        name=f"harness-{run_id}",
        limits=limits,
        output_dir=out_dir,
    )
    spec = json.dumps(runner_spec(suite, run_id, inputs), indent=2)
    return SuiteContainer(inputs=tuple(inputs.items()), spec=spec, request=request)

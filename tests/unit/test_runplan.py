from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.config import Case, Suite
from harness.errors import EXIT_SKIP, NoGpuError
from harness.limits import Limits
from harness.runplan import (
    DRIVER_TARGET,
    IN_DIR,
    MODEL_DIR,
    OUT_DIR,
    GpuPlan,
    Mount,
    case_settings,
    input_files,
    plan_gpu,
    runner_spec,
    suite_container,
)

NODES = ("/dev/nvidia1", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-caps")
DRIVER = "/usr/lib/nvidia-driver"
CASE = Case(
    id="vace",
    model="vace_tiny",
    prompt="a fox",
    negative_prompt="blur",
    width=64,
    height=48,
    frames=9,
    steps=2,
    seed=7,
    guidance=4.5,
    flow_shift=3.0,
    guide_video="/in/a/clip.mp4",
    mask_video="/in/b/clip.mp4",
    requires_gpu=True,
)


def test_auto_prefers_nvidia_runtime() -> None:
    plan = plan_gpu("auto", runtimes={"runc", "nvidia"}, nodes=NODES, driver_dir=DRIVER, required=True)
    assert (plan.mode, plan.device_request, plan.devices, plan.mounts) == ("nvidia", True, (), ())


def test_auto_falls_back_to_device_nodes() -> None:
    plan = plan_gpu("auto", runtimes={"runc"}, nodes=NODES, driver_dir=DRIVER, required=True)
    assert plan.mode == "devices" and not plan.device_request
    assert plan.devices == ("/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm")
    assert plan.mounts == (Mount(source=DRIVER, target=DRIVER_TARGET, read_only=True),)
    assert dict(plan.environment)["LD_LIBRARY_PATH"].startswith(DRIVER_TARGET)


@pytest.mark.parametrize(
    ("nodes", "driver", "why"),
    [
        ((), DRIVER, "no /dev/nvidia* device nodes"),
        (NODES, None, "no driver folder"),
        (("/dev/nvidia0",), DRIVER, "no /dev/nvidia* device nodes"),
    ],
)
def test_auto_without_gpu(nodes: tuple[str, ...], driver: str | None, why: str) -> None:
    plan = plan_gpu("auto", runtimes={"runc"}, nodes=nodes, driver_dir=driver, required=False)
    assert plan.mode == "none" and plan.devices == () and not plan.device_request
    assert why in plan.reason
    with pytest.raises(NoGpuError) as info:
        plan_gpu("auto", runtimes={"runc"}, nodes=nodes, driver_dir=driver, required=True)
    assert info.value.exit_code == EXIT_SKIP
    assert "needs a GPU" in str(info.value) and why in str(info.value)


def test_explicit_nvidia_without_runtime() -> None:
    with pytest.raises(NoGpuError, match="gpu: devices would work"):
        plan_gpu("nvidia", runtimes={"runc"}, nodes=NODES, driver_dir=DRIVER, required=False)
    with pytest.raises(NoGpuError) as info:
        plan_gpu("nvidia", runtimes={"runc"}, nodes=(), driver_dir=DRIVER, required=False)
    assert "NVIDIA container runtime" in str(info.value) and "devices" not in str(info.value)


def test_explicit_devices_and_none() -> None:
    with pytest.raises(NoGpuError, match="driver folder none"):
        plan_gpu("devices", runtimes={"nvidia"}, nodes=NODES, driver_dir=None, required=False)
    assert plan_gpu("none", runtimes={"nvidia"}, nodes=NODES, driver_dir=DRIVER, required=False).mode == "none"
    with pytest.raises(NoGpuError, match="gpu: none"):
        plan_gpu("none", runtimes={"nvidia"}, nodes=NODES, driver_dir=DRIVER, required=True)


def test_input_files_are_unique_under_in_dir() -> None:
    other = dataclasses.replace(CASE, id="again")  # same inputs: mapped once
    mapping = input_files(Suite(name="s", cases=(CASE, other), overlays=None))
    assert set(mapping) == {"/in/a/clip.mp4", "/in/b/clip.mp4"}
    assert len(set(mapping.values())) == 2
    assert all(p.startswith(IN_DIR + "/") and p.endswith("clip.mp4") for p in mapping.values())


def test_case_settings() -> None:
    inputs = input_files(Suite(name="s", cases=(CASE,), overlays=None))
    settings = case_settings(CASE, inputs)
    assert settings == {
        "model_type": "vace_tiny",
        "prompt": "a fox",
        "negative_prompt": "blur",
        "resolution": "64x48",
        "video_length": 9,
        "num_inference_steps": 2,
        "seed": 7,
        "guidance_scale": 4.5,
        "flow_shift": 3.0,
        "video_guide": inputs["/in/a/clip.mp4"],
        "video_mask": inputs["/in/b/clip.mp4"],
        "video_prompt_type": "VM",
    }
    plain = case_settings(dataclasses.replace(CASE, guide_video=None, mask_video=None), {})
    assert not {"video_guide", "video_mask", "video_prompt_type"} & set(plain)


def test_runner_spec() -> None:
    suite = Suite(name="base", cases=(CASE,), overlays=None)
    inputs = input_files(suite)
    spec = runner_spec(suite, "run-1", inputs)
    assert spec == {
        "run_id": "run-1",
        "description": "harness suite base",
        "cases": [{"id": "vace", "settings": case_settings(CASE, inputs)}],
    }


def test_the_suite_container_is_planned_as_data() -> None:
    """Inputs read-only, outputs writable, the model cache read-only; a smoke run hides the GPUs."""
    suite = Suite(name="s", cases=(CASE,), overlays=None)
    gpu = GpuPlan(mode="none", reason="smoke level: CPU only")
    container = suite_container(
        suite=suite,
        limits=Limits(),
        model_cache=Path("/models"),
        timeout_s=60.0,
        image="sha256:" + "0" * 64,
        run_id="r1",
        run_dir="/state/runs/r1",
        labels={"harness.run": "r1"},
        gpu=gpu,
        smoke=True,
    )
    request = container.request
    assert [(m.source, m.target, m.read_only) for m in request.mounts] == [
        ("/state/runs/r1/in", IN_DIR, True),
        ("/state/runs/r1/out", OUT_DIR, False),
        ("/models", MODEL_DIR, True),
    ]
    assert request.command[0] == "--smoke" and request.environment == (("CUDA_VISIBLE_DEVICES", ""),)
    assert dict(request.labels) == {"harness.run": "r1", "harness.purpose": "smoke"}
    assert dict(container.inputs) == input_files(suite)
    assert json.loads(container.spec) == runner_spec(suite, "r1", input_files(suite))
    assert request.output_dir == "/state/runs/r1/out" and request.name == "harness-r1"

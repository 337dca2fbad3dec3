from __future__ import annotations

import dataclasses

import pytest

from harness.config import Case, Suite
from harness.errors import EXIT_SKIP, NoGpuError
from harness.runplan import DRIVER_TARGET, IN_DIR, Mount, case_settings, input_files, plan_gpu, runner_spec

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

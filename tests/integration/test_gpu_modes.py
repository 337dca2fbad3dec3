"""GPU modes against the real engine on a CPU host: what the created container records, and
the errors a host without GPU or NVIDIA runtime gives (clear, exit 125, nothing run)."""

from __future__ import annotations

import pytest

from harness.adapters.engine import Engine
from harness.errors import NoGpuError
from harness.runplan import GpuPlan, RunRequest, plan_gpu
from harness.sample.make import template
from tests.conftest import BASE_IMAGE, write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
NODES = ("/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


def _request(plan: GpuPlan) -> RunRequest:
    return RunRequest(
        image=BASE_IMAGE,
        command=("true",),
        labels=(("harness.run", "hostconfig-test"),),
        mounts=(),
        environment=(),
        gpu=plan,
        timeout_s=30,
        name=f"harness-hostconfig-{plan.mode}",
    )


def test_host_config_for_each_mode(engine: Engine) -> None:
    devices = engine.containers.host_config(
        _request(plan_gpu("devices", runtimes=set(), nodes=NODES, driver_dir="/usr/lib", required=True, gpus=(1,)))
    )
    assert [d["PathOnHost"] for d in devices["Devices"]] == [
        "/dev/nvidia1",
        "/dev/nvidiactl",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm-tools",
    ]
    [mount] = devices["Mounts"]
    assert (mount["Source"], mount["Target"], mount["ReadOnly"]) == ("/usr/lib", "/usr/local/nvidia", True)
    assert not devices.get("DeviceRequests")
    nvidia = engine.containers.host_config(
        _request(plan_gpu("nvidia", runtimes={"nvidia"}, nodes=(), driver_dir=None, required=True, gpus=(0,)))
    )
    [req] = nvidia["DeviceRequests"]
    assert req["DeviceIDs"] == ["0"] and req["Capabilities"] == [["gpu"]]
    none = engine.containers.host_config(
        _request(plan_gpu("none", runtimes=set(), nodes=(), driver_dir=None, required=False))
    )
    assert not none.get("Devices") and not none.get("DeviceRequests")


def test_device_request_without_nvidia_runtime_says_what_works(engine: Engine, tmp_path: object) -> None:
    plan = plan_gpu("nvidia", runtimes={"nvidia"}, nodes=(), driver_dir=None, required=True)  # pretend
    with pytest.raises(NoGpuError, match="use gpu: devices or auto on this host"):
        engine.containers.run(_request(plan), log_path=f"{tmp_path}/log", on_line=lambda _: None)
    assert engine.client.containers.list(all=True, filters={"label": "harness.run=hostconfig-test"}) == []


@pytest.mark.parametrize(
    ("gpu", "needle"),
    [
        ("nvidia", "no GPU visible through NVML"),
        ("devices", "no GPU visible through NVML"),
    ],
)
def test_gpu_modes_on_a_cpu_host_stop_before_building(
    project: Project, tmp_path: object, gpu: str, needle: str
) -> None:
    sha = project.commit("good", template())
    write_config(project.folder, upstream=project.upstream, repo=project.repo, run_extra="").write_text(
        project.config.read_text().replace("gpu: auto", f"gpu: {gpu}")
    )
    code, output = project.run("build-and-test", "HEAD")
    assert code == 125, output
    assert needle in output and "GPU preflight" in output
    # Stopped before building: no image of the tested commit, nor of its env or deps stage.
    assert project.image_id(sha[:12]) is None
    for repo in (project.repo, f"{project.repo}-env", f"{project.repo}-deps"):
        assert project.engine.client.images.list(name=repo) == [], repo

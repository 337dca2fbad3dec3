"""GPU preflight as a use case over typed fakes: who wants a GPU, what the host check says."""

from __future__ import annotations

from harness.model import GpuMode
from harness.ops.gpu_checks import host_preflight, wants_gpu
from harness.plan import GpuNeeds
from harness.preflight import GpuInfo
from tests.unit.fakes import FakeGpu

H200 = GpuInfo(
    index=0, uuid="GPU-1", name="H200", memory_total_mib=143_771, memory_used_mib=1_000, capability=(9, 0), driver="570"
)
NODES = ("/dev/nvidia0", "/dev/nvidiactl")


def needs(mode: GpuMode, *, gpus: tuple[int, ...] = (), required: bool = False) -> GpuNeeds:
    return GpuNeeds(mode=mode, gpus=gpus, requires_gpu=required, min_free_gib=1.0)


def test_who_wants_a_gpu() -> None:
    assert not wants_gpu(needs("none", required=True), FakeGpu([H200], NODES))  # none is none
    assert not wants_gpu(needs("auto"), FakeGpu())  # auto on a host with no device nodes
    assert wants_gpu(needs("auto"), FakeGpu(nodes=NODES))
    assert wants_gpu(needs("auto", required=True), FakeGpu())
    assert wants_gpu(needs("devices"), FakeGpu())


def test_a_gpu_the_host_lacks_is_named_with_those_it_has() -> None:
    problem = host_preflight(needs("devices", gpus=(3,)), FakeGpu([H200], NODES))
    assert problem == "run.gpus asks for GPU 3; this host has 0"


def test_auto_on_a_host_whose_gpu_is_unusable_falls_back_but_a_gpu_suite_stops() -> None:
    assert host_preflight(needs("auto"), FakeGpu(nodes=NODES)) is None
    problem = host_preflight(needs("auto", required=True), FakeGpu(nodes=NODES))
    assert problem is not None and "no NVML here" in problem


def test_a_usable_gpu_passes() -> None:
    assert host_preflight(needs("nvidia", required=True), FakeGpu([H200], NODES)) is None

"""doctor over typed fakes: the rows a maintainer reads, and the engine that does not answer."""

from __future__ import annotations

from pathlib import Path

from harness.errors import InfraError
from harness.ops.doctor import Row, doctor
from harness.preflight import GpuInfo
from tests.unit.fakes import BASE_ID, FakeGpu, unit_config

H200 = GpuInfo(
    index=0, uuid="GPU-1", name="H200", memory_total_mib=143_771, memory_used_mib=1_000, capability=(9, 0), driver="570"
)


class Engine:
    """The doctor's view of an engine (ports.EngineInfo); `down` makes every question fail."""

    def __init__(self, *, down: bool = False, images: dict[str, str] | None = None) -> None:
        self.down, self.images = down, images or {}

    def runtimes(self) -> set[str]:
        if self.down:
            raise InfraError("the Docker engine does not answer: is dockerd running?")
        return {"runc"}

    def version(self) -> str:
        return "20.10.24"

    def image_id(self, name: str) -> str | None:
        return self.images.get(name)


def _by_item(rows: list[Row]) -> dict[str, Row]:
    return {f"{r.area}/{r.item}": r for r in rows}


def test_an_engine_that_does_not_answer_ends_the_rows_with_why(tmp_path: Path) -> None:
    rows = doctor(unit_config(tmp_path), Engine(down=True), FakeGpu())
    assert [(r.area, r.item, r.ok) for r in rows] == [("config", "file", True), ("engine", "reachable", False)]
    assert "is dockerd running" in rows[-1].value


def test_a_cpu_host_with_the_base_image_is_all_ok(tmp_path: Path) -> None:
    rows = _by_item(doctor(unit_config(tmp_path), Engine(images={"harness-base:bookworm": BASE_ID}), FakeGpu()))
    assert all(r.ok for r in rows.values()), [r for r in rows.values() if not r.ok]
    assert rows["engine/runtimes"].value == "runc"
    assert rows["gpu/mode (none)"].value.startswith("none")
    assert rows["image/base (recipe)"].value.endswith(BASE_ID[7:19])


def test_a_missing_base_image_is_named_and_each_gpu_gets_a_row(tmp_path: Path) -> None:
    rows = _by_item(doctor(unit_config(tmp_path, gpu="auto"), Engine(), FakeGpu([H200], ("/dev/nvidia0",))))
    assert not rows["image/base (recipe)"].ok
    assert "not on this engine" in rows["image/base (recipe)"].value
    assert rows["gpu/GPU 0"].value.startswith("H200, sm_90, 139/140 GiB free, driver 570")
    assert rows["gpu/device nodes"].value == "/dev/nvidia0"


def test_a_host_without_nvml_says_why_and_is_fine_for_a_cpu_suite(tmp_path: Path) -> None:
    rows = _by_item(doctor(unit_config(tmp_path), Engine(), FakeGpu()))
    assert (rows["gpu/NVML"].value, rows["gpu/NVML"].ok) == ("no NVML here", True)

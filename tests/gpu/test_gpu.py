"""GPU path end to end (run on the GPU machine: tests/gpu/run_on_device.sh).

Skipped, with the reason, where no NVIDIA GPU, engine or GPU base image is present, so CI
on CPU stays green. The base image comes from the GPU machine's own files (its torch);
`gpu: devices` passes /dev/nvidia* and the driver folder (no NVIDIA container runtime there).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.engine import Engine, connect
from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.config import load_config
from harness.errors import EngineUnavailable
from harness.runplan import plan_gpu
from harness.store import Store

HERE = Path(__file__).resolve().parent
BASE = os.environ.get("HARNESS_GPU_BASE", "local/host-torch:1")
VENV = os.environ.get("HARNESS_GPU_VENV", "/opt/torch/.venv")
OUT = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
P4_MIN = 0.98  # generation throughput in the container over native, on the same GPU

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not Path("/dev/nvidia0").exists(), reason="no NVIDIA GPU on this host (/dev/nvidia0)"),
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = connect(os.environ)
    try:
        _ = eng.client
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    if eng.images.image_id(BASE) is None:
        pytest.skip(f"GPU base image {BASE} missing (tests/gpu/run_on_device.sh makes it)")
    return eng


def _project(folder: Path, *, gpu: str, extra_run: str = "", requires_gpu: bool = True) -> Path:
    upstream = folder / "upstream"
    if not upstream.exists():
        write_commits(
            upstream,
            [
                (
                    "gpu mini engine",
                    {
                        "wgp.py": (HERE / "gpu_wgp.py.txt").read_text(),
                        "gen_bench.py": (HERE / "gen_bench.py.txt").read_text(),
                        "defaults/t2v_gpu.json": json.dumps({"model": {"name": "GPU tiny", "architecture": "t2v"}}),
                        "requirements.txt": "",
                    },
                )
            ],
        )
    recipe = folder / "recipe"
    recipe.mkdir(exist_ok=True)
    (recipe / "recipe.yaml").write_text(f"base: {BASE}\npython: {VENV}/bin/python3\nvenv: {VENV}\ntorch: []\n")
    config = folder / "harness.yaml"
    # One harness state owns one image repository: a repository per test folder.
    config.write_text(f"""\
upstream: {{url: {upstream}}}
contract: none
image: {{repo: harness-gpu/t-{hashlib.sha1(str(folder).encode()).hexdigest()[:10]}, recipe: ./recipe}}
run:
  gpu: {gpu}
  timeout_s: 600
{extra_run}suite:
  name: gpu
  cases:
    - {{id: gpu_t2v, model: t2v_gpu, prompt: a fox, resolution: 256x256, frames: 17, steps: 20,
        requires_gpu: {str(requires_gpu).lower()}}}
    - {{id: gpu_t2v_big, model: t2v_gpu, prompt: a boat, resolution: 512x512, frames: 33, steps: 40,
        requires_gpu: {str(requires_gpu).lower()}}}
""")
    return config


def _run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), *args])
    return result.exit_code, result.output


def _save(name: str, doc: object) -> None:
    if OUT is not None:
        (OUT / name).write_text(json.dumps(doc, indent=2, default=str))


@pytest.mark.parametrize("mode", ["devices", "auto"])
def test_build_and_test_passes_on_the_gpu_with_vram_recorded(engine: Engine, tmp_path: Path, mode: str) -> None:
    config = _project(tmp_path, gpu=mode)
    code, output = _run(config, "build-and-test", "HEAD", "--json")
    assert code == 0, output
    [record] = Store(load_config(config).state_dir / "state.db").runs()
    log = Path(record.run_dir, "container.log").read_text()[-3000:]
    _save(f"gpu-run-{mode}.json", {"record": json.loads(output[output.index("{") :]), "log": log})
    for case in record.cases:
        assert case.gpu_peak_mib is not None and case.gpu_peak_mib > 0
        assert not any("leak" in note for note in case.notes), case.notes  # the context is not a leak
    # A second run of the same image measures drift against the first (last-good, same seeds).
    code, again_out = _run(config, "build-and-test", "HEAD", "--json")
    _save(f"gpu-run-{mode}-again.json", json.loads(again_out[again_out.index("{") :]))
    assert code == 0, again_out
    again = Store(load_config(config).state_dir / "state.db").runs()[0]
    assert all(c.drift_psnr is not None and c.drift_psnr > 30 for c in again.cases), again.cases
    if mode == "auto":
        code, doctor = _run(config, "doctor", "--json")
        mode_row = next(r for r in json.loads(doctor) if r["item"] == "mode (auto)")
        assert mode_row["value"].startswith("devices")


@pytest.mark.parametrize(
    ("gpu", "extra", "needle"),
    [
        ("none", "", "the suite needs a GPU but gpu: none is configured"),
        ("devices", "  gpus: [7]\n", "run.gpus asks for GPU 7; this host has 0"),
    ],
)
def test_hidden_gpu_is_infra_125(engine: Engine, tmp_path: Path, gpu: str, extra: str, needle: str) -> None:
    config = _project(tmp_path, gpu=gpu, extra_run=extra)
    code, output = _run(config, "build-and-test", "HEAD", "--level", "baseline")
    assert code == 125, output
    assert needle in " ".join(output.split())
    _save(f"gpu-hidden-{gpu}.txt", output)


def test_wrapper_mode_runs_the_wrappers_baseline_on_the_gpu(engine: Engine, tmp_path: Path) -> None:
    """Wrapper mode: the wrapper's own test command, in the same confined container with the GPU
    passed through, is judged by its videos; each case gets the command's GPU peak."""
    config = _project(tmp_path, gpu="devices")
    write_commits(
        tmp_path / "wrapper",
        [("gpu wrapper", {"run_gpu.py": (HERE / "gpu_wrapper_test.py.txt").read_text(), "Wan2GP/.keep": ""})],
    )
    config.write_text(
        config.read_text()
        + f"wrapper: {{url: {tmp_path / 'wrapper'}, command: 'python run_gpu.py {{spec}} {{out}}'}}\n"
    )
    code, output = _run(config, "build-and-test", "HEAD", "--json")
    [record] = Store(load_config(config).state_dir / "state.db").runs()
    _save("gpu-wrapper.json", {"output": output, "log": Path(record.run_dir, "container.log").read_text()[-3000:]})
    assert code == 0, output
    assert record.wrapper and record.image_tag.endswith(f"-{record.wrapper[:12]}")
    for case in record.cases:
        assert case.video is not None and case.video.frames > 0
        assert case.gpu_peak_mib is not None and case.gpu_peak_mib > 0, case


def test_p4_throughput_in_container_vs_native(engine: Engine, tmp_path: Path) -> None:
    config = _project(tmp_path, gpu="devices")
    assert _run(config, "build-and-test", "HEAD")[0] == 0
    [record] = Store(load_config(config).state_dir / "state.db").runs()
    native = json.loads(
        subprocess.run(
            [f"{VENV}/bin/python3", "gen_bench.py"],
            cwd=tmp_path / "upstream",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
    )
    plan = plan_gpu(
        "devices",
        runtimes=engine.info.runtimes(),
        nodes=tuple(str(p) for p in Path("/dev").glob("nvidia*")),
        driver_dir="/usr/local/nvidia",
        required=True,
    )
    out = engine.client.containers.run(
        record.image_id,
        entrypoint=["python", "gen_bench.py"],
        remove=True,
        devices=[f"{d}:{d}:rwm" for d in plan.devices],
        environment=dict(plan.environment),
        volumes={"/usr/local/nvidia": {"bind": "/usr/local/nvidia", "mode": "ro"}},
    )
    inside = json.loads(out.decode().strip().splitlines()[-1])
    ratio = inside["frames_per_s"] / native["frames_per_s"]
    print(f"P4 = container {inside['frames_per_s']:.1f} / native {native['frames_per_s']:.1f} frames/s = {ratio:.3f}")
    _save("p4.json", {"native": native, "container": inside, "ratio": ratio})
    assert inside["frames_per_s"] > 0 and native["frames_per_s"] > 0
    assert ratio >= P4_MIN, f"P4 = {ratio:.3f}: the container runs below {P4_MIN:.0%} of native throughput"

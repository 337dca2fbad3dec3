"""Run the suite in a container of a commit image and collect what it left (no judging here)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from harness.config import GENERATED, GENERATED_MASK, ClipKind, Config
from harness.diskfull import DiskFull, mapped
from harness.errors import InfraError
from harness.model import RunOutcome, VideoFacts
from harness.ports import ContainerRunner, GpuProbe, Reporter
from harness.runplan import (
    IN_DIR,
    MODEL_DIR,
    OUT_DIR,
    SCRATCH,
    GpuPlan,
    Mount,
    RunRequest,
    input_files,
    plan_gpu,
    runner_spec,
)
from harness.telemetry import case_telemetry, case_windows, psnr

VideoProbe = Callable[[Path], VideoFacts]
FramesReader = Callable[[Path], np.ndarray]


def _host_path(run_dir: Path, container_path: str) -> Path | None:
    """Map a path the runner reported under OUT_DIR to the run folder; None if it escapes."""
    try:
        rel = PurePosixPath(container_path).relative_to(OUT_DIR)
    except ValueError:
        return None
    out = (run_dir / "out").resolve()
    host = (out / rel).resolve()
    return host if host.is_relative_to(out) else None


def prepare_dirs(in_dir: Path, out_dir: Path) -> None:
    """Inputs readable, outputs writable by the container's unprivileged user."""
    in_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    in_dir.chmod(0o755)
    out_dir.chmod(0o777)


def runner_args(cfg: Config) -> tuple[str, ...]:
    """A read-only image root means the runner works on a copy of the upstream tree in /scratch."""
    return ("--writable-copy", SCRATCH) if cfg.limits.read_only_root else ()


def _infra(log_path: Path, exc: InfraError) -> RunOutcome:
    """The run could not happen: no verdict on the commit, only the reason."""
    return RunOutcome(
        exit_code=None, timed_out=False, oom_killed=False, log_path=str(log_path), results=None, infra_error=str(exc)
    )


def _read_results(path: Path) -> dict[str, object] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def run_suite(
    cfg: Config,
    *,
    image: str,
    run_id: str,
    run_dir: Path,
    labels: dict[str, str],
    runner: ContainerRunner,
    gpu_probe: GpuProbe,
    probe: VideoProbe,
    reporter: Reporter,
    frames: FramesReader | None = None,
    reference: dict[str, Path] | None = None,
    smoke: bool = False,
    sample_clip: Callable[[Path, ClipKind], None] | None = None,
) -> RunOutcome:
    """Run the suite (or, with `smoke`, only import upstream on the CPU and resolve its models)."""
    suite = cfg.suite
    log_path = run_dir / "container.log"
    try:
        gpu = (
            GpuPlan(mode="none", reason="smoke level: CPU only")
            if smoke
            else plan_gpu(
                cfg.gpu,
                runtimes=runner.runtimes(),
                nodes=gpu_probe.device_nodes(),
                driver_dir=str(cfg.driver_dir) if cfg.driver_dir.is_dir() else None,
                required=suite.requires_gpu,
                gpus=cfg.gpus,
            )
        )
    except InfraError as exc:
        return _infra(log_path, exc)
    reporter.step(f"gpu mode {gpu.mode}: {gpu.reason}")
    in_dir, out_dir = run_dir / "in", run_dir / "out"
    inputs = input_files(suite)
    try:
        with mapped(f"copying the suite's inputs into {in_dir}", f"the partial copies were removed, {run_dir} is kept"):
            prepare_dirs(in_dir, out_dir)
            for source, target in inputs.items():
                if source in (GENERATED, GENERATED_MASK):
                    if sample_clip is None:
                        raise InfraError("the suite asks for generated inputs and no clip writer was given")
                    sample_clip(in_dir / PurePosixPath(target).name, "mask" if source == GENERATED_MASK else "guide")
                else:
                    shutil.copyfile(source, in_dir / PurePosixPath(target).name)
            (in_dir / "spec.json").write_text(json.dumps(runner_spec(suite, run_id, inputs), indent=2))
    except DiskFull as exc:
        shutil.rmtree(in_dir, ignore_errors=True)  # the space they took lets the ERROR record be written
        return _infra(log_path, exc)
    except InfraError as exc:
        return _infra(log_path, exc)
    mounts = [
        Mount(source=str(in_dir), target=IN_DIR, read_only=True),
        Mount(source=str(out_dir), target=OUT_DIR, read_only=False),
    ]
    if cfg.model_cache is not None:
        mounts.append(Mount(source=str(cfg.model_cache), target=MODEL_DIR, read_only=True))
    request = RunRequest(
        image=image,
        command=(
            *(("--smoke",) if smoke else ()),
            *runner_args(cfg),
            "--spec",
            f"{IN_DIR}/spec.json",
            "--out",
            OUT_DIR,
        ),
        labels=tuple(sorted({**labels, "harness.purpose": "smoke" if smoke else "test"}.items())),
        mounts=tuple(mounts),
        environment=(("CUDA_VISIBLE_DEVICES", ""),) if smoke else (),
        gpu=gpu,
        timeout_s=float(cfg.run_timeout_s),
        name=f"harness-{run_id}",
        limits=cfg.limits,
    )
    reporter.step(f"running suite {suite.name} ({len(suite.cases)} cases) in {image}")
    lines: list[tuple[float, str]] = []

    def on_line(text: str) -> None:
        lines.append((time.monotonic(), text))  # case markers, for GPU telemetry per case
        reporter.line(text)

    indexes = (
        [g.index for g in gpu_probe.gpus()[0] if not cfg.gpus or g.index in cfg.gpus] if gpu.mode != "none" else []
    )
    sampler = gpu_probe.sampler(indexes) if indexes else None
    try:
        with sampler if sampler is not None else contextlib.nullcontext():
            done = runner.run(request, log_path=str(log_path), on_line=on_line)
    except InfraError as exc:
        return _infra(log_path, exc)
    telemetry = case_telemetry(sampler.samples, case_windows(lines)) if sampler is not None else {}
    results = _read_results(out_dir / "results.json")
    videos: dict[str, VideoFacts] = {}
    rows = results.get("results") if results else None
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and isinstance(row.get("output_path"), str):
            host = _host_path(run_dir, row["output_path"])
            if host is not None:
                videos[str(row.get("case_id"))] = probe(host)
    drift: dict[str, float] = {}
    for case_id, facts in videos.items():
        ref = (reference or {}).get(case_id)
        if frames is not None and ref is not None and facts.decodes:
            score = psnr(frames(Path(facts.path)), frames(ref))
            if score is not None:
                drift[case_id] = score
    return RunOutcome(
        exit_code=done.exit_code,
        timed_out=done.timed_out,
        oom_killed=done.oom_killed,
        log_path=str(log_path),
        results=results,
        videos=videos,
        seconds=done.seconds,
        telemetry=dict(telemetry),
        drift=drift,
        gpu_mode=gpu.mode,
        killed_for=done.killed_for,
    )

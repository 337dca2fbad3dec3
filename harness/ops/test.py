"""Run the suite in a container of a commit image and collect what it left (no judging here)."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from harness.adapters.run_files import read_output
from harness.config import GENERATED, GENERATED_MASK, ClipKind
from harness.diskfull import DiskFull, mapped
from harness.errors import InfraError
from harness.model import RunOutcome, VideoFacts
from harness.plan import SuitePlan
from harness.ports import ContainerRunner, GpuProbe, Reporter
from harness.runplan import OUT_DIR, ContainerExit, GpuPlan, RunRequest, SuiteContainer, plan_gpu, suite_container
from harness.telemetry import case_telemetry, case_windows, psnr

VideoProbe = Callable[[Path], VideoFacts]
FramesReader = Callable[[Path], np.ndarray]


WHOLE_RUN = "wrapper-run"  # harness/runner/wrapper.py's window of the wrapper's whole test command

# Reading the run folder after the container ended: with every file capped this takes seconds,
# but it still has a deadline (the run's own plus this) rather than none.
READ_GRACE_S = 120.0


def _host_path(run_dir: Path, container_path: str) -> Path | None:
    """Map a path the runner reported under OUT_DIR to the run folder; None if it escapes.

    Folders on the way are resolved (and must stay inside out/); the last name is not: a symlink
    named like the video is refused when opened (open_run_file), never followed.
    """
    try:
        rel = PurePosixPath(container_path).relative_to(OUT_DIR)
    except ValueError:
        return None
    if not rel.name or rel.name in (".", ".."):
        return None
    out = (run_dir / "out").resolve()
    parent = (out / rel.parent).resolve()
    return parent / rel.name if parent.is_relative_to(out) else None


def prepare_dirs(in_dir: Path, out_dir: Path) -> None:
    """Inputs readable, outputs writable by the container's unprivileged user."""
    in_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    in_dir.chmod(0o755)
    out_dir.chmod(0o777)


def _infra(log_path: Path, exc: InfraError) -> RunOutcome:
    """The run could not happen: no verdict on the commit, only the reason."""
    return RunOutcome(
        exit_code=None, timed_out=False, oom_killed=False, log_path=str(log_path), results=None, infra_error=str(exc)
    )


def _missing_weights(rows: list[object], cache: Path | None) -> dict[str, tuple[str, ...]]:
    """Per case, the weight files the runner found missing (names the suite's model definitions
    give, harness/runner/missing.py), less any the host's model cache does have: only those make
    a failed case "weights missing" (infra); any other failure is the commit's."""
    found: dict[str, tuple[str, ...]] = {}
    for row in rows:
        names = row.get("missing_weights") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(names, list):
            continue
        plain = [n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")]
        absent = tuple(n for n in plain if cache is None or not (cache / n).is_file())
        if absent:
            found[str(row.get("case_id"))] = absent
    return found


def run_suite(
    plan: SuitePlan,
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
    log_path = run_dir / "container.log"
    try:
        container = _container(
            plan, runner, gpu_probe, image=image, run_id=run_id, run_dir=run_dir, labels=labels, smoke=smoke
        )
        reporter.step(f"gpu mode {container.request.gpu.mode}: {container.request.gpu.reason}")
        _stage_inputs(container, run_dir, sample_clip)
    except InfraError as exc:  # a full disk included: no verdict on the commit
        return _infra(log_path, exc)
    request = container.request
    what = f"the wrapper's test command ({plan.wrapper.command})" if plan.wrapper and not smoke else "suite"
    reporter.step(f"running {what} {plan.suite.name} ({len(plan.suite.cases)} cases) in {image}")
    read_deadline = time.monotonic() + request.timeout_s + READ_GRACE_S
    try:
        done, telemetry = _run_sampled(plan, request, runner, gpu_probe, reporter, log_path)
    except InfraError as exc:
        return _infra(log_path, exc)
    results, results_error = read_output(run_dir / "out", plan.limits.max_output_bytes, read_deadline)
    rows = results.get("results") if results else None
    rows = rows if isinstance(rows, list) else []
    missing = _missing_weights(rows, plan.model_cache)
    videos = _videos(rows, run_dir, probe)
    return RunOutcome(
        exit_code=done.exit_code,
        timed_out=done.timed_out,
        oom_killed=done.oom_killed,
        log_path=str(log_path),
        results=results,
        videos=videos,
        seconds=done.seconds,
        telemetry=telemetry,
        drift=_drift(videos, reference or {}, frames),
        gpu_mode=request.gpu.mode,
        killed_for=done.killed_for,
        results_error=results_error,
        missing_weights=missing,
        node=done.node,
        image_digest=done.image_digest,
    )


def _run_sampled(
    plan: SuitePlan,
    request: RunRequest,
    runner: ContainerRunner,
    gpu_probe: GpuProbe,
    reporter: Reporter,
    log_path: Path,
) -> tuple[ContainerExit, dict[str, object]]:
    """The container's run, with the GPUs it uses sampled per case (memory, utilisation)."""
    lines: list[tuple[float, str]] = []

    def on_line(text: str) -> None:
        lines.append((time.monotonic(), text))  # case markers, for GPU telemetry per case
        reporter.line(text)

    wanted = plan.gpu.gpus
    used = request.gpu.mode != "none"
    indexes = [g.index for g in gpu_probe.gpus()[0] if not wanted or g.index in wanted] if used else []
    sampler = gpu_probe.sampler(indexes) if indexes else None
    with sampler if sampler is not None else contextlib.nullcontext():
        done = runner.run(request, log_path=str(log_path), on_line=on_line)
    telemetry = case_telemetry(sampler.samples, case_windows(lines)) if sampler is not None else {}
    if plan.wrapper is not None and WHOLE_RUN in telemetry:
        # The wrapper's cases have no markers: each gets the whole command's peak and use; a leak
        # cannot be told (the command's process has exited when its window closes).
        whole = dataclasses.replace(telemetry[WHOLE_RUN], leak_mib=0.0, leaked=False)
        telemetry = {case.id: whole for case in plan.suite.cases}
    return done, dict(telemetry)


def _container(
    plan: SuitePlan,
    runner: ContainerRunner,
    gpu_probe: GpuProbe,
    *,
    image: str,
    run_id: str,
    run_dir: Path,
    labels: dict[str, str],
    smoke: bool,
) -> SuiteContainer:
    """The test container planned for what the engine and host offer (NoGpuError, infra, when
    the suite needs a GPU and none is usable; smoke runs on the CPU)."""
    gpu = (
        GpuPlan(mode="none", reason="smoke level: CPU only")
        if smoke
        else plan_gpu(
            plan.gpu.mode,
            runtimes=runner.runtimes(),
            nodes=gpu_probe.device_nodes(),
            driver_dir=plan.driver_dir,
            required=plan.gpu.requires_gpu,
            gpus=plan.gpu.gpus,
        )
    )
    return suite_container(
        suite=plan.suite,
        limits=plan.limits,
        model_cache=plan.model_cache,
        timeout_s=plan.timeout_s,
        image=image,
        run_id=run_id,
        run_dir=str(run_dir),
        labels=labels,
        gpu=gpu,
        smoke=smoke,
        wrapper=plan.wrapper,
    )


def _stage_inputs(
    container: SuiteContainer, run_dir: Path, sample_clip: Callable[[Path, ClipKind], None] | None
) -> None:
    """The suite's input files and the runner's spec.json into in/; an empty, writable out/."""
    in_dir, out_dir = run_dir / "in", run_dir / "out"
    try:
        with mapped(f"copying the suite's inputs into {in_dir}", f"the partial copies were removed, {run_dir} is kept"):
            prepare_dirs(in_dir, out_dir)
            for source, target in container.inputs:
                if source in (GENERATED, GENERATED_MASK):
                    if sample_clip is None:
                        raise InfraError("the suite asks for generated inputs and no clip writer was given")
                    sample_clip(in_dir / PurePosixPath(target).name, "mask" if source == GENERATED_MASK else "guide")
                else:
                    shutil.copyfile(source, in_dir / PurePosixPath(target).name)
            (in_dir / "spec.json").write_text(container.spec)
    except DiskFull:
        shutil.rmtree(in_dir, ignore_errors=True)  # the space they took lets the ERROR record be written
        raise


def _videos(rows: list[object], run_dir: Path, probe: VideoProbe) -> dict[str, VideoFacts]:
    """The facts of each case's video, where the runner reported one inside the output folder."""
    videos: dict[str, VideoFacts] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("output_path"), str):
            host = _host_path(run_dir, row["output_path"])
            if host is not None:
                videos[str(row.get("case_id"))] = probe(host)
    return videos


def _drift(videos: dict[str, VideoFacts], reference: dict[str, Path], frames: FramesReader | None) -> dict[str, float]:
    """PSNR of each case's video against last-good's (same suite, so the same seeds)."""
    drift: dict[str, float] = {}
    for case_id, facts in videos.items():
        ref = reference.get(case_id)
        if frames is not None and ref is not None and facts.decodes:
            try:
                score = psnr(frames(Path(facts.path)), frames(ref))
            except OSError:  # replaced since the probe, or the reference is gone: no drift to tell
                continue
            if score is not None:
                drift[case_id] = score
    return drift

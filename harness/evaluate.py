"""Judge a run from its artifacts (pure). Exit codes alone never pass a case.

Upstream exits 0 on a stale dependency and the old baseline script exited 0 on failures,
so a case passes only when its video exists, decodes, has the asked frame count and
resolution, is not constant, and the runner reported no error for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from harness.config import Case, Suite
from harness.model import CaseResult, RunOutcome, Verdict, VideoFacts
from harness.telemetry import CaseTelemetry


def _video_problems(case: Case, video: VideoFacts | None) -> list[str]:
    if video is None or not video.exists:
        return ["no output video"]
    if not video.decodes:
        return [f"video does not decode ({video.error or 'unknown error'})"]
    problems = []
    if video.frames != case.frames:
        problems.append(f"{video.frames} frames, expected {case.frames}")
    if (video.width, video.height) != (case.width, case.height):
        problems.append(f"resolution {video.width}x{video.height}, expected {case.width}x{case.height}")
    if video.constant:
        problems.append("video is constant (every frame flat and unchanging)")
    return problems


def _rows(results: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    rows = results.get("results")
    if not isinstance(rows, list):
        return {}
    return {str(r.get("case_id")): r for r in rows if isinstance(r, Mapping)}


_GPU_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED", re.I)


def judge_case(
    case: Case,
    row: Mapping[str, object] | None,
    video: VideoFacts | None,
    *,
    telemetry: CaseTelemetry | None = None,
    drift: float | None = None,
    drift_ref: str = "",
    min_psnr: float | None = None,
    who: str = "runner",
) -> CaseResult:
    """One case from its row (the runner's, or in wrapper mode the wrapper's) and its video."""
    status = str(row.get("status", "missing")) if row else "missing"
    error = str(row.get("error") or "") if row else ""
    reasons = _video_problems(case, video)
    if row is None:
        reasons.insert(0, f"the {who} reported nothing for this case")
    elif status != "success":
        reasons.insert(0, f"{who} status {status}" + (f": {error}" if error else ""))
    notes = []
    if telemetry is not None and telemetry.leaked:
        notes.append(f"GPU memory leak: {telemetry.leak_mib:+.0f} MiB still used after the case")
    if drift is not None:
        if min_psnr is not None and drift < min_psnr:
            reasons.append(f"drift: PSNR {drift:.1f} dB against last-good, below {min_psnr:g} (suite.min_psnr)")
        else:
            notes.append(f"drift: PSNR {drift:.1f} dB against last-good")
    gen_time = row.get("generation_time", 0.0) if row else 0.0
    return CaseResult(
        case_id=case.id,
        model=case.model,
        runner_status=status,
        verdict=Verdict.FAIL if reasons else Verdict.PASS,
        reasons=tuple(reasons),
        output_path=video.path if video and video.exists else "",
        generation_time=float(gen_time) if isinstance(gen_time, int | float) else 0.0,
        error=error,
        video=video,
        gpu_peak_mib=telemetry.peak_mib if telemetry else None,
        gpu_util_mean=telemetry.util_mean if telemetry else None,
        gpu_leak_mib=telemetry.leak_mib if telemetry else None,
        drift_psnr=drift,
        drift_ref=drift_ref if drift is not None else "",
        notes=tuple(notes),
    )


def evaluate_infra(outcome: RunOutcome) -> tuple[Verdict, str, tuple[CaseResult, ...]]:
    """The verdict when the container did not finish normally (always ERROR), or PASS to go on."""
    if outcome.infra_error:
        return Verdict.ERROR, outcome.infra_error, ()
    if outcome.killed_for == "output":
        return Verdict.FAIL, "output: the run wrote more than run.max_output_gib into its output folder; killed", ()
    if outcome.oom_killed:
        return Verdict.ERROR, "oom: the test container was killed for memory (OOMKilled, run.memory_gib)", ()
    if outcome.timed_out and outcome.killed_for == "silence":
        return Verdict.ERROR, f"hang: no output for run.silence_timeout_s, killed after {outcome.seconds:.0f} s", ()
    if outcome.timed_out:
        return Verdict.ERROR, f"timeout: the test container passed its deadline after {outcome.seconds:.0f} s", ()
    if outcome.results_error:
        # Only the commit's code writes the output folder besides the runner: what it left is its own.
        return Verdict.FAIL, f"bad output: {outcome.results_error}", ()
    if outcome.results is None:
        return Verdict.ERROR, f"the runner wrote no results.json (container exit {outcome.exit_code})", ()
    return Verdict.PASS, "", ()


def evaluate(suite: Suite, outcome: RunOutcome) -> tuple[Verdict, str, tuple[CaseResult, ...]]:
    """Overall verdict, a one-line summary, and the per-case results."""
    verdict, summary, cases = evaluate_infra(outcome)
    if verdict is not Verdict.PASS or outcome.results is None:
        return verdict, summary, cases
    rows = _rows(outcome.results)
    cases = tuple(
        judge_case(
            c,
            rows.get(c.id),
            outcome.videos.get(c.id),
            drift=outcome.drift.get(c.id),
            drift_ref=outcome.drift_ref,
            telemetry=t if isinstance(t := outcome.telemetry.get(c.id), CaseTelemetry) else None,
            min_psnr=suite.min_psnr,
            who="wrapper" if "wrapper" in outcome.results else "runner",  # runner/wrapper.py adds it
        )
        for c in suite.cases
    )
    gpu_oom = [c for c in cases if c.verdict is Verdict.FAIL and _GPU_OOM.search(c.error)]
    if gpu_oom:
        return (
            Verdict.ERROR,
            f"gpu_oom: {', '.join(c.case_id for c in gpu_oom)} ran out of GPU memory "
            f"(suite.min_free_gpu_gib, a smaller case, or a bigger GPU); {gpu_oom[0].error[:160]}",
            cases,
        )
    # Weights missing (infra: bisect skips it) only on the runner's structured report of files the
    # suite's model definitions name and the cache lacks; a network error or a ValueError while
    # loading is the commit's own failure, whatever its text says (issue 13).
    missing = [c for c in cases if c.verdict is Verdict.FAIL and outcome.missing_weights.get(c.case_id)]
    if missing:
        files = sorted({f for c in missing for f in outcome.missing_weights[c.case_id]})
        return (
            Verdict.ERROR,
            f"weights missing for {', '.join(c.case_id for c in missing)}: {', '.join(files[:8])} "
            "not in the model cache (tests run offline with a read-only cache): run `harness weights pull`",
            cases,
        )
    failed = [c for c in cases if c.verdict is Verdict.FAIL]
    if failed:
        first = failed[0]
        return Verdict.FAIL, f"{len(failed)}/{len(cases)} cases failed; {first.case_id}: {first.reasons[0]}", cases
    return Verdict.PASS, f"{len(cases)}/{len(cases)} cases passed", cases


def evaluate_with_retries(
    suite: Suite, attempt: Callable[[], RunOutcome], on_retry: Callable[[str], None]
) -> tuple[Verdict, str, tuple[CaseResult, ...], RunOutcome]:
    """`attempt` judged, and run again up to suite.retries times while it FAILs; failed-then-passed
    is FLAKY (recorded, never a PASS: it does not move last-good). The last outcome comes back
    with the verdict: its results are the ones written."""
    outcome = attempt()
    verdict, summary, cases = evaluate(suite, outcome)
    for retry in range(1, suite.retries + 1):
        if verdict is not Verdict.FAIL:
            break
        on_retry(f"FAIL ({summary}); retry {retry} of {suite.retries} (suite.retries)")
        outcome = attempt()
        again, again_summary, cases = evaluate(suite, outcome)
        if again is Verdict.PASS:
            verdict, summary = Verdict.FLAKY, f"flaky: failed ({summary}), then passed on retry {retry}"
        elif again is not Verdict.FAIL:
            verdict, summary = again, again_summary
    return verdict, summary, cases, outcome


def evaluate_smoke(outcome: RunOutcome) -> tuple[Verdict, str]:
    """Smoke: the upstream engine imported on the CPU and every suite model resolved."""
    if outcome.infra_error or outcome.timed_out or outcome.oom_killed or outcome.results is None:
        verdict, summary, _ = evaluate_infra(outcome)
        return verdict, summary
    doc = outcome.results
    if not doc.get("import_finished"):
        return Verdict.FAIL, f"smoke: upstream did not load: {doc.get('import_error', 'unknown error')}"
    models = doc.get("models")
    if not isinstance(models, dict):
        return Verdict.FAIL, "smoke: the runner reported no model resolution"
    bad = {m: v for m, v in models.items() if v != "ok"}
    if bad:
        return Verdict.FAIL, "smoke: " + "; ".join(f"model {m}: {v}" for m, v in bad.items())
    return Verdict.PASS, f"smoke: wgp imported on the CPU, {len(models)} models resolved"


def classify_build_failure(stage: str, log_tail: tuple[str, ...]) -> Verdict:
    """A failed build is the commit's fault (FAIL) only when its own requirements broke it.

    env builds depend on the recipe and host only; commit builds only copy files. In the
    deps build, network trouble is infra (bisect skips it); anything else - a requirement
    that does not exist, a conflict, an sdist that does not compile - is the commit's.
    """
    if stage != "deps" or _failed_at_from(log_tail):
        return Verdict.ERROR
    return Verdict.ERROR if infra_trouble(log_tail) else Verdict.FAIL


_STEP = re.compile(r"Step [0-9]+/[0-9]+ : (\S+)")


def _failed_at_from(log_tail: tuple[str, ...]) -> bool:
    """The build stopped at its FROM: the base (the env image harness built) is missing, never the
    commit's doing. Seen when another process removed the env image mid-bisect: the engine tried to
    pull it, and the deps failure named the infra commit as the culprit."""
    steps = [m[1] for line in log_tail if (m := _STEP.match(line))]
    return bool(steps) and steps[-1].upper() == "FROM"


def infra_trouble(log_tail: tuple[str, ...]) -> bool:
    """The build log shows trouble of the network or the host (worth a retry), in any stage."""
    text = "\n".join(log_tail).lower()
    markers = (
        "temporary failure in name resolution",
        "connection refused",
        "connectionerror",
        "read timed out",
        "max retries exceeded",
        "network is unreachable",
        "sslerror",
        "certificate verify failed",
        "connection reset",
        "proxyerror",
        "no space left on device",
        "returned a non-zero code: 137",  # SIGKILL: the host OOM killer or an operator, not the commit
        "dial tcp",  # the engine's own network (a registry pull)
        "pull access denied",
        # uv's words for the same troubles
        "failed to fetch",
        "error sending request",
        "dns error",
        "tcp connect error",
        "operation timed out",
        "invalid peer certificate",
    )
    return any(m in text for m in markers)

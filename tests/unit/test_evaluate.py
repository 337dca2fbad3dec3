from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.config import Case, Suite
from harness.evaluate import classify_build_failure, evaluate, evaluate_with_retries
from harness.model import RunOutcome, Verdict, VideoFacts

CASE = Case(
    id="t2v",
    model="t2v_tiny",
    prompt="p",
    negative_prompt="n",
    width=64,
    height=48,
    frames=9,
    steps=2,
    seed=1,
    guidance=3.0,
    flow_shift=2.0,
    guide_video=None,
    mask_video=None,
    requires_gpu=False,
)
SUITE = Suite(name="s", cases=(CASE,), overlays=None)
GOOD = VideoFacts(path="/out/t2v.mp4", exists=True, decodes=True, frames=9, width=64, height=48, size_bytes=900)
ROW = {"case_id": "t2v", "status": "success", "generation_time": 1.5, "output_path": "/harness/out/t2v.mp4"}


def outcome(video: VideoFacts | None = GOOD, row: dict[str, object] | None = ROW, **kw: Any) -> RunOutcome:
    fields: dict[str, Any] = {  # Any: each test overrides fields of its own types
        "exit_code": 0,
        "timed_out": False,
        "oom_killed": False,
        "log_path": "/logs/run.log",
        "results": {"results": [row] if row else []},
        "videos": {"t2v": video} if video else {},
        "seconds": 42.0,
    }
    return RunOutcome(**(fields | kw))


def test_all_good_passes() -> None:
    verdict, summary, (case,) = evaluate(SUITE, outcome())
    assert verdict is Verdict.PASS
    assert summary == "1/1 cases passed"
    assert (case.verdict, case.reasons, case.output_path, case.generation_time) == (Verdict.PASS, (), GOOD.path, 1.5)


@pytest.mark.parametrize(
    ("video", "reason"),
    [
        (None, "no output video"),
        (VideoFacts(path="/out/t2v.mp4", exists=False), "no output video"),
        (dataclasses.replace(GOOD, decodes=False, error="moov missing"), "does not decode (moov missing)"),
        (dataclasses.replace(GOOD, frames=8), "8 frames, expected 9"),
        (dataclasses.replace(GOOD, width=48, height=64), "resolution 48x64, expected 64x48"),
        (dataclasses.replace(GOOD, constant=True), "video is constant"),
    ],
)
def test_bad_video_fails_even_on_success_status(video: VideoFacts | None, reason: str) -> None:
    verdict, summary, (case,) = evaluate(SUITE, outcome(video))
    assert verdict is Verdict.FAIL
    assert case.verdict is Verdict.FAIL and case.runner_status == "success"
    assert reason in case.reasons[0]
    assert summary.startswith("1/1 cases failed; t2v: ") and reason in summary


def test_runner_failure_with_good_video_fails() -> None:
    row = ROW | {"status": "failed", "error": "CUDA error"}
    verdict, _, (case,) = evaluate(SUITE, outcome(row=row))
    assert verdict is Verdict.FAIL
    assert case.reasons == ("runner status failed: CUDA error",)


def test_case_missing_from_results_fails() -> None:
    verdict, _, (case,) = evaluate(SUITE, outcome(row=None))
    assert verdict is Verdict.FAIL
    assert case.runner_status == "missing"
    assert case.reasons[0] == "the runner reported nothing for this case"


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"infra_error": "engine went away"}, "engine went away"),
        ({"timed_out": True, "exit_code": None}, "deadline after 42 s"),
        ({"oom_killed": True, "exit_code": 137}, "OOMKilled"),
        ({"results": None, "exit_code": 3}, "no results.json (container exit 3)"),
    ],
)
def test_infra_problems_are_errors_even_with_good_videos(kw: dict[str, Any], words: str) -> None:
    verdict, summary, cases = evaluate(SUITE, outcome(**kw))
    assert verdict is Verdict.ERROR
    assert words in summary
    assert cases == ()


@pytest.mark.parametrize(
    ("stage", "tail", "verdict"),
    [
        ("env", ("ERROR: No matching distribution found for torch",), Verdict.ERROR),
        ("commit", ("COPY failed",), Verdict.ERROR),
        ("deps", ("Collecting x", "socket.gaierror: [Errno -3] Temporary failure in name resolution"), Verdict.ERROR),
        ("deps", ("ERROR: No matching distribution found for nosuchpkg",), Verdict.FAIL),
        ("deps", ("ResolutionImpossible: conflicting dependencies",), Verdict.FAIL),
        # The env image vanished under the deps build (another process removed it): the engine
        # tries to pull it. Seen as a wrong bisect culprit: the infra commit was named.
        (
            "deps",
            (
                "Step 1/9 : FROM harness-test/x-env:abc",
                'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
            ),
            Verdict.ERROR,
        ),
        (
            "deps",
            (
                "Step 1/9 : FROM harness/wan2gp-env:abc",
                "pull access denied for harness/wan2gp-env, repository does not exist or may require 'docker login'",
            ),
            Verdict.ERROR,
        ),
        ("deps", ("Step 1/9 : FROM harness/wan2gp-env:abc", "some error the engine gives"), Verdict.ERROR),
        ("deps", ("Step 1/9 : FROM e", "Step 5/9 : RUN pip install -r r.txt", "ERROR: No matching"), Verdict.FAIL),
    ],
)
def test_classify_build_failure(stage: str, tail: tuple[str, ...], verdict: Verdict) -> None:
    assert classify_build_failure(stage, tail) is verdict


def test_verdict_exit_codes() -> None:
    assert [v.exit_code for v in (Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.SKIP)] == [0, 1, 125, 125]


@pytest.mark.parametrize(
    "error",
    [
        "ValueError: bad shape in load_model at wgp.py:88",
        "OSError: ckpts/wan2.1_Vace_14B_mbf16.safetensors not found; HTTPSConnectionPool(host='huggingface.co')",
        "URLError: <urlopen error [Errno -3] Temporary failure in name resolution>",
    ],
)
def test_a_failure_that_only_mentions_weights_is_the_commits(error: str) -> None:
    """A code bug (a ValueError in loading, a new runtime urlopen) was 'weights missing' (125):
    git bisect run skipped the very commit that broke. Only the runner's structured report of
    definition-named files missing from the cache is infra (issue 13)."""
    row = {**ROW, "status": "failed", "error": error}
    verdict, summary, _ = evaluate(SUITE, outcome(video=None, row=row))
    assert verdict is Verdict.FAIL, summary


def test_weight_files_the_definitions_name_and_the_cache_lacks_are_infra() -> None:
    row = {**ROW, "status": "failed", "error": "FileNotFoundError: ckpts/t2v_tiny.safetensors"}
    missing = {"t2v": ("t2v_tiny.safetensors",)}
    verdict, summary, _ = evaluate(SUITE, outcome(video=None, row=row, missing_weights=missing))
    assert verdict is Verdict.ERROR and "t2v_tiny.safetensors not in the model cache" in summary, summary
    assert "run `harness weights pull`" in summary
    # ... but a case that passed is not made infra by a runner's list
    assert evaluate(SUITE, outcome(missing_weights=missing))[0] is Verdict.PASS


def test_output_over_its_cap_and_a_refused_results_file_are_the_commits_fail() -> None:
    verdict, summary, _ = evaluate(SUITE, outcome(killed_for="output", exit_code=None))
    assert verdict is Verdict.FAIL and "run.max_output_gib" in summary
    verdict, summary, _ = evaluate(SUITE, outcome(results=None, results_error="results.json is not valid JSON"))
    assert verdict is Verdict.FAIL and summary == "bad output: results.json is not valid JSON"


def test_drift_and_leak_notes_and_the_psnr_threshold() -> None:
    from harness.telemetry import CaseTelemetry

    leak = CaseTelemetry(peak_mib=9000, util_mean=80, leak_mib=4000, leaked=True)
    _, _, (case,) = evaluate(SUITE, outcome(telemetry={"t2v": leak}, drift={"t2v": 21.5}, drift_ref="r-good"))
    assert case.verdict is Verdict.PASS and case.gpu_peak_mib == 9000
    assert case.drift_ref == "r-good"  # the report shows that run's contact sheet beside this one
    assert case.notes == (
        "GPU memory leak: +4000 MiB still used after the case",
        "drift: PSNR 21.5 dB against last-good",
    )
    strict = dataclasses.replace(SUITE, min_psnr=30.0)
    verdict, _, (case,) = evaluate(strict, outcome(drift={"t2v": 21.5}))
    assert verdict is Verdict.FAIL and "below 30 (suite.min_psnr)" in case.reasons[0]


def test_a_killed_deps_build_is_infra() -> None:
    from harness.evaluate import classify_build_failure

    tail = ("The command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 137",)
    assert classify_build_failure("deps", tail) is Verdict.ERROR


def test_retries_judged_in_one_call_keep_an_infra_error_and_the_last_outcome() -> None:
    """A FAIL, then a retry the infra broke: ERROR (not FAIL, not FLAKY), the last outcome back."""
    attempts = iter((outcome(video=None), outcome(infra_error="engine gone", seconds=7.0)))
    said: list[str] = []
    suite = dataclasses.replace(SUITE, retries=2)
    verdict, summary, cases, last = evaluate_with_retries(suite, lambda: next(attempts), said.append)
    assert (verdict, summary, cases, last.seconds) == (Verdict.ERROR, "engine gone", (), 7.0)
    assert said == ["FAIL (1/1 cases failed; t2v: no output video); retry 1 of 2 (suite.retries)"]

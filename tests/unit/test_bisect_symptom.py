"""Bisect for one symptom (pure core with a fake probe): an unrelated breakage in the range
is skipped, never named as the culprit of the break being hunted."""

from __future__ import annotations

from harness.bisect import Symptom, answer, endpoint_problem, next_probe, symptom_verdict
from harness.model import CaseResult, RunRecord, Verdict

N, CONFLICT, FIXED, CULPRIT = 40, range(15, 23), 23, 30
CONFLICT_SUMMARY = "contract broken (nothing built): wgp.py: SyntaxError: invalid syntax ('<<<<<<< HEAD')"


def _record(index: int) -> RunRecord:
    """What testing commit `index` of the fake history records."""
    cases: tuple[CaseResult, ...]
    if index in CONFLICT:
        verdict, summary, cases = Verdict.FAIL, CONFLICT_SUMMARY, ()
    elif index >= CULPRIT:
        case = CaseResult(
            case_id="vace",
            model="vace_14B",
            runner_status="failed",
            verdict=Verdict.FAIL,
            reasons=("generate_video() got an unexpected keyword argument 'video_guide'",),
        )
        verdict, summary, cases = Verdict.FAIL, "1 of 2 cases failed", (case,)
    else:
        verdict, summary, cases = Verdict.PASS, "2 of 2 cases passed", ()
    return RunRecord(
        run_id=f"r{index}",
        commit=f"c{index:02d}",
        image_id="sha256:x",
        image_tag="t",
        deps_key="d",
        suite="s",
        suite_hash="h",
        verdict=verdict,
        summary=summary,
        cases=cases,
        started="2026-01-01T00:00:00+00:00",
        build_seconds=0.0,
        run_seconds=0.0,
        run_dir="/r",
    )


def _bisect(symptom: Symptom) -> tuple[str | None, list[int]]:
    commits = [f"c{i:02d}" for i in range(N)]
    verdicts = {
        c: symptom_verdict(_record(i).verdict, _record(i), symptom) for i, c in ((0, commits[0]), (N - 1, commits[-1]))
    }
    assert endpoint_problem(commits[0], commits[-1], verdicts) is None
    probed = []
    while (commit := next_probe(commits, verdicts)) is not None:
        index = commits.index(commit)
        probed.append(index)
        verdicts[commit] = symptom_verdict(_record(index).verdict, _record(index), symptom)
    return answer(commits, verdicts).first_bad, probed


def test_any_failure_lands_on_the_unrelated_breakage() -> None:
    first_bad, _ = _bisect(Symptom())
    assert first_bad == f"c{CONFLICT[0]:02d}"  # why --reason exists


def test_reason_skips_other_failures_and_names_the_real_culprit() -> None:
    for symptom in (
        Symptom(reason="video_guide"),
        Symptom(reason=r"unexpected keyword .*'video_\w+'"),
        Symptom(case="vace"),
    ):
        first_bad, probed = _bisect(symptom)
        assert first_bad == f"c{CULPRIT:02d}", symptom
        assert any(i in CONFLICT for i in probed)  # it met the other breakage and stepped over it


def test_symptom_verdicts() -> None:
    conflict, culprit, good = _record(CONFLICT[0]), _record(CULPRIT), _record(0)
    assert symptom_verdict(Verdict.FAIL, conflict, Symptom(reason="video_guide")) is Verdict.SKIP
    assert symptom_verdict(Verdict.FAIL, conflict, Symptom(reason="SYNTAXERROR")) is Verdict.FAIL  # substring: any case
    assert symptom_verdict(Verdict.FAIL, conflict, Symptom(case="vace")) is Verdict.SKIP  # the case never ran
    assert symptom_verdict(Verdict.FAIL, culprit, Symptom(case="t2v")) is Verdict.SKIP  # another case's failure
    assert symptom_verdict(Verdict.FAIL, culprit, Symptom(case="vace", reason="nope")) is Verdict.SKIP
    assert symptom_verdict(Verdict.FAIL, culprit, Symptom(case="vace", reason="video_guide")) is Verdict.FAIL
    assert symptom_verdict(Verdict.PASS, good, Symptom(reason="x")) is Verdict.PASS
    assert symptom_verdict(Verdict.ERROR, good, Symptom(reason="x")) is Verdict.ERROR
    assert symptom_verdict(Verdict.FAIL, conflict, Symptom(reason="(")) is Verdict.FAIL  # bad regex, found as text


def test_a_bad_endpoint_must_fail_with_the_symptom() -> None:
    verdicts = {"g": Verdict.PASS, "b": symptom_verdict(Verdict.FAIL, _record(CONFLICT[0]), Symptom(reason="video"))}
    assert "bad endpoint" in (endpoint_problem("g", "b", verdicts) or "")

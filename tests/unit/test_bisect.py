"""Property tests of the pure bisect core (harness/bisect.py)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.bisect import Speculation, answer, endpoint_problem, next_probe, next_round, prefetch, speculate
from harness.model import Verdict


def _run(
    n: int, first_bad: int, skipped: frozenset[int] = frozenset()
) -> tuple[list[str], dict[str, Verdict], list[int]]:
    commits = [f"c{i:04d}" for i in range(n)]
    verdicts = {commits[0]: Verdict.PASS, commits[-1]: Verdict.FAIL}  # the endpoint checks
    probed: list[int] = []
    while (commit := next_probe(commits, verdicts)) is not None:
        index = commits.index(commit)
        assert commit not in verdicts  # never probes a commit twice
        probed.append(index)
        if index in skipped:
            verdicts[commit] = Verdict.ERROR
        else:
            verdicts[commit] = Verdict.PASS if index < first_bad else Verdict.FAIL
    return commits, verdicts, probed


# Small ranges, where off-by-one mistakes live, are checked exhaustively (every culprit of every
# size; with skips, every set of skipped commits too), so the random examples above them can be
# fewer: 100 instead of 300 (150 with skips), for about half the time.
SMALL, SMALL_MULTI, SMALL_SKIPS = 40, 16, 8


def _check_plain(n: int, first_bad: int) -> None:
    commits, verdicts, probed = _run(n, first_bad)
    assert answer(commits, verdicts).first_bad == commits[first_bad]
    assert len(probed) <= math.ceil(math.log2(n))
    assert all(0 < i < n - 1 for i in probed)  # never outside the range (endpoints already known)


def test_finds_every_first_bad_of_small_ranges_within_log2_probes() -> None:
    for n in range(2, SMALL + 1):
        for first_bad in range(1, n):
            _check_plain(n, first_bad)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_finds_first_bad_within_log2_probes(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=SMALL + 1, max_value=600), label="n")
    _check_plain(n, data.draw(st.integers(min_value=1, max_value=n - 1), label="first_bad"))


def test_skips_never_lose_the_culprit_in_small_ranges() -> None:
    for n in range(2, SMALL_SKIPS + 1):
        inner = range(1, max(1, n - 2) + 1)
        for bits in range(1 << len(inner)):
            skipped = frozenset(i for b, i in enumerate(inner) if bits >> b & 1)
            for first_bad in range(1, n):
                _check_skips(n, first_bad, skipped)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_skips_never_lose_the_culprit(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=SMALL_SKIPS + 1, max_value=200), label="n")
    first_bad = data.draw(st.integers(min_value=1, max_value=n - 1), label="first_bad")
    skipped = data.draw(st.frozensets(st.integers(min_value=1, max_value=max(1, n - 2))), label="skipped")
    _check_skips(n, first_bad, skipped)


def _check_skips(n: int, first_bad: int, skipped: frozenset[int]) -> None:
    commits, verdicts, probed = _run(n, first_bad, skipped)
    result = answer(commits, verdicts)
    assert commits[first_bad] in result.candidates
    assert all(0 < i < n - 1 for i in probed)
    if result.first_bad is None:
        # Every candidate but the last was skipped: the range is as small as the skips allow.
        assert all(verdicts.get(c) is Verdict.ERROR for c in result.candidates[:-1])
    else:
        assert result.first_bad == commits[first_bad]


@given(st.integers(min_value=4, max_value=300), st.integers(min_value=1, max_value=4))
def test_prefetch_offers_the_next_probes_of_both_outcomes(n: int, jobs: int) -> None:
    commits = [f"c{i}" for i in range(n)]
    verdicts = {commits[0]: Verdict.PASS, commits[-1]: Verdict.FAIL}
    probing = next_probe(commits, verdicts)
    assert probing is not None
    ahead = prefetch(commits, verdicts, probing, jobs)
    assert len(ahead) <= jobs and probing not in ahead and len(set(ahead)) == len(ahead)
    for outcome in (Verdict.PASS, Verdict.FAIL):
        following = next_probe(commits, {**verdicts, probing: outcome})
        if following is not None and jobs >= 2:
            assert following in ahead


def test_endpoints_must_bound_the_range() -> None:
    assert endpoint_problem("g", "b", {"g": Verdict.PASS, "b": Verdict.FAIL}) is None
    assert "good endpoint" in (endpoint_problem("g", "b", {"g": Verdict.FAIL, "b": Verdict.FAIL}) or "")
    assert "bad endpoint" in (endpoint_problem("g", "b", {"g": Verdict.PASS, "b": Verdict.PASS}) or "")
    assert "untested" in (endpoint_problem("g", "b", {"g": Verdict.PASS}) or "")


def test_multisection_of_small_ranges_same_answer_in_log_k_plus_1_rounds() -> None:
    for n in range(2, SMALL_MULTI + 1):
        for k in range(1, 9):
            for first_bad in range(1, n):
                _check_multisection(n, k, first_bad)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_multisection_same_answer_in_log_k_plus_1_rounds(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=SMALL_MULTI + 1, max_value=600), label="n")
    k = data.draw(st.integers(min_value=1, max_value=8), label="k")
    _check_multisection(n, k, data.draw(st.integers(min_value=1, max_value=n - 1), label="first_bad"))


def _check_multisection(n: int, k: int, first_bad: int) -> None:
    commits = [f"c{i:04d}" for i in range(n)]
    verdicts = {commits[0]: Verdict.PASS, commits[-1]: Verdict.FAIL}
    rounds = 0
    while batch := next_round(commits, verdicts, k):
        assert len(batch) <= k and not set(batch) & verdicts.keys()
        rounds += 1
        for commit in batch:
            verdicts[commit] = Verdict.PASS if commits.index(commit) < first_bad else Verdict.FAIL
    assert answer(commits, verdicts).first_bad == commits[first_bad]
    assert rounds <= (math.ceil(math.log(n - 1, k + 1)) if n > 2 else 0)  # N-1 candidates, k+1 parts a round
    _, _, plain = _run(n, first_bad)
    assert rounds <= max(1, len(plain))  # never more rounds than the plain bisect's probes


def test_speculation_builds_unknown_endpoints_with_the_midpoint() -> None:
    commits = [f"c{i}" for i in range(9)]
    assert speculate(commits, {}, 1) == Speculation(endpoints=("c0", "c8"), probes=("c4",))
    assert speculate(commits, {"c8": Verdict.FAIL}, 1) == Speculation(endpoints=("c0",), probes=("c4",))
    assert speculate(commits, {"c0": Verdict.PASS}, 1) == Speculation(endpoints=("c8",), probes=("c4",))
    assert speculate(commits, {}, 2) == Speculation(endpoints=("c0", "c8"), probes=("c3", "c5"))
    assert speculate(["a", "b"], {}, 1) == Speculation(endpoints=("a", "b"), probes=())  # nothing between
    assert speculate(["a"], {}, 1) is None


def test_no_speculation_when_recorded_endpoints_settle_it() -> None:
    commits = [f"c{i}" for i in range(9)]
    assert speculate(commits, {"c0": Verdict.PASS, "c8": Verdict.FAIL}, 1) is None  # both kept: today's flow
    assert speculate(commits, {"c0": Verdict.FAIL}, 1) is None  # the check will stop the bisect
    assert speculate(commits, {"c8": Verdict.SKIP}, 1) is None  # e.g. a failure without the symptom


@given(st.integers(min_value=2, max_value=300), st.integers(min_value=1, max_value=8))
def test_speculative_probes_are_the_first_the_bisect_makes(n: int, k: int) -> None:
    commits = [f"c{i}" for i in range(n)]
    guess = speculate(commits, {}, k)
    assert guess is not None and guess.builds[:2] == (commits[0], commits[-1])
    checked = {commits[0]: Verdict.PASS, commits[-1]: Verdict.FAIL}  # the endpoints, as claimed
    first = next_round(commits, checked, k) if k > 1 else [p for p in [next_probe(commits, checked)] if p]
    assert list(guess.probes) == first

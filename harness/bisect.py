"""Bisect over upstream commits (pure): where to probe next, what to prefetch, the answer.

`commits` is the first-parent range oldest first: commits[0] is the known-good endpoint,
commits[-1] the known-bad one. Verdicts: PASS is good, FAIL is bad, ERROR/SKIP mean the
commit could not be judged and is dropped, as `git bisect skip` does; a neighbour is tried.
Probing the middle of the open window keeps it to ceil(log2(N)) probes for N candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.model import RunRecord, Verdict

INFRA_VERDICTS = (Verdict.ERROR, Verdict.SKIP)  # the commit could not be judged: skipped, never bad


@dataclass(frozen=True, kw_only=True)
class Window:
    lo: int  # index of the newest known-good commit
    hi: int  # index of the oldest known-bad commit after lo

    @property
    def size(self) -> int:
        return self.hi - self.lo


def window(commits: Sequence[str], verdicts: Mapping[str, Verdict]) -> Window:
    """The open window (lo, hi]: the first bad commit is commits[lo+1 .. hi]."""
    goods = [i for i, c in enumerate(commits) if verdicts.get(c) is Verdict.PASS]
    lo = max(goods) if goods else 0
    bads = [i for i, c in enumerate(commits) if i > lo and verdicts.get(c) is Verdict.FAIL]
    hi = min(bads) if bads else len(commits) - 1
    return Window(lo=lo, hi=hi)


def _order(w: Window) -> list[int]:
    """Indexes strictly inside the window, nearest the middle first (then alternate outwards)."""
    mid = (w.lo + w.hi) // 2
    inside = range(w.lo + 1, w.hi)
    return sorted(inside, key=lambda i: (abs(i - mid), i))


def next_probe(commits: Sequence[str], verdicts: Mapping[str, Verdict]) -> str | None:
    """The commit to test next, or None when the answer is known (or skips hide it)."""
    w = window(commits, verdicts)
    for index in _order(w):
        if commits[index] not in verdicts:
            return commits[index]
    return None


def prefetch(commits: Sequence[str], verdicts: Mapping[str, Verdict], probing: str, jobs: int) -> list[str]:
    """Commits worth building while `probing` is tested: the next probe if it turns out good,
    and if it turns out bad (then their successors, up to `jobs`)."""
    out: list[str] = []
    frontier = [dict(verdicts)]
    pending = [probing]
    while pending and len(out) < jobs:
        nxt_frontier, nxt_pending = [], []
        for state, commit in zip(frontier, pending, strict=True):
            for outcome in (Verdict.PASS, Verdict.FAIL):
                guess = {**state, commit: outcome}
                candidate = next_probe(commits, guess)
                if candidate is not None and candidate not in out and candidate != probing:
                    out.append(candidate)
                    nxt_frontier.append(guess)
                    nxt_pending.append(candidate)
        frontier, pending = nxt_frontier, nxt_pending
    return out[:jobs]


@dataclass(frozen=True, kw_only=True)
class Answer:
    first_bad: str | None  # exact culprit, when no skip hides it
    candidates: tuple[str, ...]  # the smallest range that surely holds the first bad commit
    skipped: tuple[str, ...]


def answer(commits: Sequence[str], verdicts: Mapping[str, Verdict]) -> Answer:
    w = window(commits, verdicts)
    candidates = tuple(commits[w.lo + 1 : w.hi + 1])
    skipped = tuple(c for c in commits if verdicts.get(c) in INFRA_VERDICTS)
    return Answer(first_bad=candidates[0] if len(candidates) == 1 else None, candidates=candidates, skipped=skipped)


def endpoint_problem(good: str, bad: str, verdicts: Mapping[str, Verdict]) -> str | None:
    """Why the endpoints cannot bound a bisect (checked before any other probe runs), or None."""
    g, b = verdicts.get(good), verdicts.get(bad)
    if g is not Verdict.PASS:
        return f"the good endpoint {good[:12]} is not good here ({g.value if g else 'untested'}): pick an older --good"
    if b is not Verdict.FAIL:
        return f"the bad endpoint {bad[:12]} is not bad here ({b.value if b else 'untested'}): nothing to bisect"
    return None


def next_round(commits: Sequence[str], verdicts: Mapping[str, Verdict], k: int) -> list[str]:
    """Up to `k` commits to probe at once, splitting the open window into k+1 even parts
    (multisection: the window shrinks by k+1 per round). Skipped commits are stepped over."""
    w = window(commits, verdicts)
    inside = [i for i in range(w.lo + 1, w.hi) if commits[i] not in verdicts]
    if not inside or k <= 1:
        probe = next_probe(commits, verdicts)
        return [probe] if probe is not None else []
    picks: list[int] = []
    for part in range(1, k + 1):
        target = w.lo + part * w.size / (k + 1)
        free = [i for i in inside if i not in picks]
        if not free:
            break
        picks.append(min(free, key=lambda i: (abs(i - target), i)))
    return [commits[i] for i in sorted(set(picks))]


@dataclass(frozen=True, kw_only=True)
class Speculation:
    """Images to build at once before the endpoints are checked (issue 18): the endpoints with no
    verdict to keep, and the first probes that follow if both turn out as claimed. Where the host
    has room they also run at once; a speculative probe's run counts only once the endpoints
    check out."""

    endpoints: tuple[str, ...]  # good first, then bad
    probes: tuple[str, ...]  # the midpoint, or with k > 1 the first round

    @property
    def builds(self) -> tuple[str, ...]:
        return (*self.endpoints, *self.probes)


def speculate(commits: Sequence[str], kept: Mapping[str, Verdict], k: int) -> Speculation | None:
    """What to build at once while the endpoints are unknown; None for the plain order (check
    the endpoints, then probe). `kept`: the endpoints' recorded verdicts an endpoint check keeps.
    Both kept: nothing to overlap. One kept that already disagrees: the bisect stops at the check,
    so building probes would be waste."""
    if len(commits) < 2:
        return None
    claimed = {commits[0]: Verdict.PASS, commits[-1]: Verdict.FAIL}
    unknown = tuple(c for c in claimed if c not in kept)
    if not unknown or any(kept[c] is not v for c, v in claimed.items() if c in kept):
        return None
    return Speculation(endpoints=unknown, probes=tuple(next_round(commits, claimed, k)))


@dataclass(frozen=True, kw_only=True)
class Symptom:
    """The break being hunted: only failures that show it count as bad; any other failure is a
    skip, so an unrelated breakage inside the range (a syntax error, conflict markers) cannot be
    named as its culprit. No reason and no case: every failure counts."""

    reason: str = ""  # substring (case-insensitive) or regex, searched in the summary and failing cases' reasons
    case: str = ""  # only this case's failure counts

    @property
    def narrows(self) -> bool:
        return bool(self.reason or self.case)

    def describe(self) -> str:
        parts = [f"case {self.case!r} fails"] if self.case else []
        parts += [f"reasons match {self.reason!r}"] if self.reason else []
        return " and ".join(parts) or "any failure"

    def shown_by(self, record: RunRecord) -> bool:
        """Whether a FAIL record shows this symptom."""
        failing = [c for c in record.cases if c.verdict is Verdict.FAIL]
        if self.case:
            failing = [c for c in failing if c.case_id == self.case]
            if not failing:  # the case passed, or never ran (build or contract broken first)
                return False
            texts = [r for c in failing for r in (*c.reasons, c.error) if r]
        else:
            texts = [record.summary, *(r for c in failing for r in (*c.reasons, c.error) if r)]
        return not self.reason or any(_matches(self.reason, t) for t in texts)


ANY_FAILURE = Symptom()


def _matches(pattern: str, text: str) -> bool:
    if pattern.lower() in text.lower():
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:  # not a regex: the substring test above was the whole question
        return False


def symptom_verdict(verdict: Verdict, record: RunRecord, symptom: Symptom) -> Verdict:
    """A FAIL that does not show the symptom is another breakage: skipped, like an infra error."""
    if verdict is Verdict.FAIL and symptom.narrows and not symptom.shown_by(record):
        return Verdict.SKIP
    return verdict

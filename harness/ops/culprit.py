"""The first bad commit in words: its diffstat, the integration surface it touched, its
requirement changes; and, when it is a merge, the branch it merged bisected in turn."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.bisect import Answer, answer, next_probe
from harness.model import Commit, Verdict
from harness.ops.probe import Prober
from harness.ports import Upstream
from harness.reqdiff import RequirementChanges, requirement_changes

INTEGRATION_PATHS = ("wgp.py", "defaults/", "finetunes/", "shared/", "requirements.txt", "Dockerfile")


@dataclass(frozen=True, kw_only=True)
class Culprit:
    commit: Commit
    parent: str
    files: tuple[tuple[str, int, int], ...]
    integration: tuple[tuple[str, int, int], ...]
    requirements: RequirementChanges


@dataclass(frozen=True, kw_only=True)
class InsideMerge:
    """The branch a culprit merge brought in, bisected from the merge base to the second parent
    (the first parent is known good)."""

    merge: str
    base: str  # "" when the merged branch shares no history with the first parent
    tip: str  # the merge's second parent
    commits: int  # commits after the merge base up to the tip
    answer: Answer | None
    culprit: Culprit | None
    why_not: str  # why no commit inside the merge is named; "" when one is
    inside: InsideMerge | None = None  # the culprit on the branch is a merge too: its own branch


def culprit_report(upstream: Upstream, sha: str) -> Culprit:
    parent = upstream.parent(sha) or sha
    files = tuple(upstream.diffstat(parent, sha))
    old = (upstream.read_file(parent, "requirements.txt") or b"").decode("utf-8", "replace")
    new = (upstream.read_file(sha, "requirements.txt") or b"").decode("utf-8", "replace")
    return Culprit(
        commit=upstream.commit(sha),
        parent=parent,
        files=files,
        integration=tuple(f for f in files if f[0].startswith(INTEGRATION_PATHS)),
        requirements=requirement_changes(old, new),
    )


MERGE_DEPTH = 8  # merges of merges followed this deep (a branch merged into a merged branch...)


def inside_merge(prober: Prober, upstream: Upstream, merge: str, depth: int = 1) -> InsideMerge | None:
    """Bisect the branch a culprit merge brought in; None when `merge` is no merge."""
    side = upstream.merged_range(merge)
    if not side:
        return None
    tip = side[-1]
    base = side[0] if len(side) > 1 else ""

    def stop(why: str) -> InsideMerge:
        prober.bw.world.reporter.step(f"inside merge {merge[:12]}: {why}")
        return InsideMerge(
            merge=merge, base=base, tip=tip, commits=len(side) - 1, answer=None, culprit=None, why_not=why
        )

    if not base:
        return stop("the merged branch shares no history with the first parent: no merge base to bisect from")
    prober.bw.world.reporter.step(
        f"first bad commit {merge[:12]} is a merge: bisecting the branch it merged, "
        f"{len(side) - 1} commits after the merge base {base[:12]} up to its second parent {tip[:12]}"
    )
    if (verdict := prober.probe(tip)) is not Verdict.FAIL:
        return stop(
            f"the merged branch's tip {tip[:12]} is not bad here ({verdict.value}): the break comes from "
            "the merge itself (its conflict resolution, or the two sides together)"
        )
    if (verdict := prober.probe(base)) is not Verdict.PASS:
        return stop(f"the merge base {base[:12]} is not good here ({verdict.value}): nothing to bisect on the branch")
    while (sha := next_probe(side, prober.verdicts)) is not None:
        prober.probe(sha)
    result = answer(side, prober.verdicts)
    if result.first_bad is None:
        why = "skips hide the exact commit: it is one of " + ", ".join(c[:12] for c in result.candidates)
        prober.bw.world.reporter.step(f"inside merge {merge[:12]}: {why}")
        return InsideMerge(
            merge=merge, base=base, tip=tip, commits=len(side) - 1, answer=result, culprit=None, why_not=why
        )
    return InsideMerge(
        merge=merge,
        base=base,
        tip=tip,
        commits=len(side) - 1,
        answer=result,
        culprit=culprit_report(upstream, result.first_bad),
        why_not="",
        inside=inside_merge(prober, upstream, result.first_bad, depth + 1) if depth < MERGE_DEPTH else None,
    )


def inside_merge_dict(inside: InsideMerge) -> dict[str, object]:
    return {
        "merge": inside.merge,
        "base": inside.base,
        "tip": inside.tip,
        "commits": inside.commits,
        "first_bad": inside.answer.first_bad if inside.answer else None,
        "candidates": list(inside.answer.candidates) if inside.answer else [],
        "skipped": list(inside.answer.skipped) if inside.answer else [],
        "culprit": dataclasses.asdict(inside.culprit) if inside.culprit else None,
        "why_not": inside.why_not,
        "inside_merge": inside_merge_dict(inside.inside) if inside.inside else None,
    }

"""Promotion rules (pure): what may become production, and where a rollback goes.

Production is a numbered history of releases. A promotion needs a PASS record of the
current suite and contract for the very image id, at `promote.requires_level` or deeper
(or `--force` with a reason, kept in the history). A rollback is a new release, never a
delete; it walks back through original promotions, so rolling back twice goes two
promotions back, and it passes over releases known to be bad (those a rollback onto
needs `--force` too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import PromotionRefused, UsageError
from harness.model import Release, RunKey, RunRecord, Verdict


def refusal(image_id: str, runs: list[RunRecord], key: RunKey) -> str | None:
    """Why `image_id` may not be promoted, or None.

    `runs`: the image's records and its commit's contract checks, newest first. `key`: the
    current suite and contract, and the required level (`deeper`: a deeper PASS satisfies
    it). The newest record that answers the key decides: a later FAIL undoes an earlier PASS.
    """
    short = image_id.removeprefix("sha256:")[:12]
    if not runs:
        return f"image {short} has no run record: run `harness build-and-test` on its commit first"
    suite = [r for r in runs if r.suite_hash == key.suite_hash]
    if not suite:
        return (
            f"image {short} was tested only with another suite version ({runs[0].suite_hash}, "
            f"now {key.suite_hash}): test it again with the current suite"
        )
    if not any(r.contract_hash == key.contract_hash for r in suite):
        return (
            f"image {short} was tested only under another contract (or before harness recorded "
            f"contracts; now {key.contract_hash}): test it again with the current contract"
        )
    answering = [r for r in runs if r.vouches_for(key)]
    if not answering and key.wrapper_mode is not None and any(bool(r.wrapper) != key.wrapper_mode for r in suite):
        judged = "harness's own runner, not the wrapper" if key.wrapper_mode else "a wrapper, and none is configured"
        return (
            f"image {short} was judged by {judged}: with a `wrapper:` section the wrapper's verdict gates "
            "production; build and test the pair (`harness build-and-test <commit>`) and promote its image"
            if key.wrapper_mode
            else f"image {short} was judged by {judged}: test it with harness's own runner first"
        )
    if not answering:
        newest = next(r for r in suite if r.contract_hash == key.contract_hash)
        return (
            f"image {short} has no run at level {key.level} or deeper (newest: {newest.level} "
            f"{newest.verdict.value.upper()}, {newest.run_id}); promote.requires_level is {key.level}: "
            f"run `harness build-and-test {newest.commit[:12]} --level {key.level}`"
        )
    latest = answering[0]
    if latest.verdict is not Verdict.PASS:
        return (
            f"the latest {latest.level} run of image {short} ({latest.run_id}) is "
            f"{latest.verdict.value.upper()}: {latest.summary}"
        )
    return None


@dataclass(frozen=True, kw_only=True)
class RollbackPlan:
    """Where a rollback goes, what it passed over and why, and what it was forced past."""

    target: Release
    skipped: tuple[tuple[int, str], ...]  # (revision, why it is known to be bad), newest first
    forced_past: str  # why the chosen release is bad, when --force took it anyway; "" otherwise


def known_bad(releases: list[Release], refused: Mapping[str, str]) -> dict[int, str]:
    """Releases a rollback must not restore silently, by revision, with why.

    `refused`: image id -> why its records do not let it be promoted now (see `refusal`).
    An image an `auto-rollback` moved away from failed its health check in production.
    """
    unhealthy = {r.from_image_id: r.revision for r in releases if r.action == "auto-rollback"}
    bad: dict[int, str] = {}
    for r in releases:
        whys = []
        if r.image_id in unhealthy:
            whys.append(f"its image failed its health check and was rolled back by revision {unhealthy[r.image_id]}")
        if r.image_id in refused:
            whys.append(refused[r.image_id])
        if whys:
            bad[r.revision] = "; ".join(whys)
    return bad


def rollback_target(
    releases: list[Release],
    to: int | None,
    *,
    refused: Mapping[str, str],
    force: bool = False,
    undo_last: bool = False,
) -> RollbackPlan:
    """The release whose image a rollback restores. `releases` oldest first.

    Without `to`, walk back through original promotions, passing over releases known to be
    bad; `undo_last` (the automatic rollback after a failed health check) first tries the
    production just before the last release. With `to`, a release known to be bad needs `force`.
    """
    if not releases:
        raise UsageError("nothing to roll back: production has no release yet")
    bad = known_bad(releases, refused)
    if to is not None:
        return _named(releases, to, bad, force)
    if force:
        raise UsageError("--force applies only with --to N: name the revision to restore")
    last = releases[-1]
    candidates = [r for r in releases if r.revision < last.based_on and r.based_on == r.revision]
    if undo_last and len(releases) > 1:
        previous = releases[-2]
        candidates = [*[r for r in candidates if r.revision < previous.based_on], previous]
    skipped: list[tuple[int, str]] = []
    for candidate in reversed(candidates):
        if candidate.image_id == last.image_id:
            skipped.append((candidate.revision, "its image is production now"))
        elif candidate.revision in bad:
            skipped.append((candidate.revision, bad[candidate.revision]))
        else:
            return RollbackPlan(target=candidate, skipped=tuple(skipped), forced_past="")
    passed_over = "".join(f"; skipped revision {rev}: {why}" for rev, why in skipped)
    raise PromotionRefused(
        f"no earlier promotion to roll back to (production is revision {last.revision}, first "
        f"promoted as revision {last.based_on}){passed_over} (override: --to N --force --reason TEXT)"
    )


def _named(releases: list[Release], to: int, bad: Mapping[int, str], force: bool) -> RollbackPlan:
    by_revision = {r.revision: r for r in releases}
    if to not in by_revision:
        raise UsageError(f"no revision {to}; revisions are 1..{releases[-1].revision} (see `harness releases`)")
    if to == releases[-1].revision or by_revision[to].image_id == releases[-1].image_id:
        raise UsageError(f"revision {to}'s image is already production (revision {releases[-1].revision})")
    why = bad.get(to, "")
    if why and not force:
        raise PromotionRefused(f"rollback to revision {to} refused: {why} (override: --force --reason TEXT)")
    return RollbackPlan(target=by_revision[to], skipped=(), forced_past=why)

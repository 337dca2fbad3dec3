"""Promotion rules (pure): what may become production, and where a rollback goes.

Production is a numbered history of releases. A promotion needs a PASS record of the
current suite for the very image id (or `--force` with a reason, kept in the history).
A rollback is a new release, never a delete; it walks back through original promotions,
so rolling back twice goes two promotions back.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import PromotionRefused, UsageError
from harness.model import RunRecord, Verdict


@dataclass(frozen=True, kw_only=True)
class Release:
    revision: int
    action: str  # promote | rollback | auto-rollback
    image_id: str
    commit: str
    from_image_id: str
    run_id: str
    created: str
    user: str
    reason: str
    forced: bool
    based_on: int  # the promote revision whose image this release puts back (itself for promote)


def refusal(image_id: str, runs: list[RunRecord], suite_hash: str) -> str | None:
    """Why `image_id` may not be promoted, or None. `runs` are its records, newest first."""
    short = image_id.removeprefix("sha256:")[:12]
    if not runs:
        return f"image {short} has no run record: run `harness build-and-test` on its commit first"
    current = [r for r in runs if r.suite_hash == suite_hash]
    if not current:
        return (
            f"image {short} was tested only with another suite version ({runs[0].suite_hash}, "
            f"now {suite_hash}): test it again with the current suite"
        )
    latest = current[0]
    if latest.verdict is not Verdict.PASS:
        return f"the latest run of image {short} ({latest.run_id}) is {latest.verdict.value.upper()}: {latest.summary}"
    return None


def rollback_target(releases: list[Release], to: int | None) -> Release:
    """The release whose image a rollback restores. `releases` oldest first."""
    if not releases:
        raise UsageError("nothing to roll back: production has no release yet")
    by_revision = {r.revision: r for r in releases}
    if to is not None:
        if to not in by_revision:
            raise UsageError(f"no revision {to}; revisions are 1..{releases[-1].revision} (see `harness releases`)")
        if to == releases[-1].revision:
            raise UsageError(f"revision {to} is already production")
        return by_revision[to]
    based = releases[-1].based_on
    earlier = [r for r in releases if r.revision < based and r.based_on == r.revision]
    if not earlier:
        raise PromotionRefused(
            f"no earlier promotion to roll back to (production is revision "
            f"{releases[-1].revision}, first promoted as revision {based})"
        )
    return earlier[-1]

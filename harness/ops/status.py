"""status and releases: where production, last-good and upstream stand, after a reconcile.

Both read only, apart from the reconcile that every production command starts with (the
store is the truth; a tag a killed move left behind is put back first).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError
from harness.model import Commit, Pointer, Release, RunRecord
from harness.naming import LAST_GOOD
from harness.ops.promote import Mover, reconcile
from harness.refs import RefResolution


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """Upstream HEAD as this command found it: the commit and how the ref resolved, or why not."""

    head: Commit | None
    resolution: RefResolution | None
    error: str  # "" when HEAD resolved


@dataclass(frozen=True, kw_only=True)
class Status:
    production: Release | None
    last_good: Pointer | None
    upstream: Upstream
    runs: tuple[RunRecord, ...]  # the newest first
    repaired: tuple[str, ...]  # what the reconcile put back (or warns about)


def _head(mover: Mover) -> Upstream:
    """Upstream HEAD, or why it is unknown: an unreachable upstream is shown, not fatal."""
    try:
        client = mover.upstream()
        head = client.resolve("HEAD")
        return Upstream(head=head, resolution=client.resolution("HEAD"), error="")
    except HarnessError as exc:
        return Upstream(head=None, resolution=None, error=str(exc))


def status(mover: Mover, *, runs: int = 5) -> Status:
    repaired = reconcile(mover)
    production = mover.store.production()
    last_good = mover.store.pointer(LAST_GOOD)
    return Status(
        production=production,
        last_good=last_good,
        upstream=_head(mover),
        runs=tuple(mover.store.runs(runs)),
        repaired=tuple(repaired),
    )


def releases(mover: Mover) -> list[Release]:
    """The production history, oldest first."""
    reconcile(mover)
    return mover.store.releases()

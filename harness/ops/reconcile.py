"""reconcile: the tags back in line with the store, and the recorded commits upstream still has.

A force-push can drop commits from upstream; their runs stay in the store (they are history)
but are marked unreachable, so `history` says so and a bisect never starts from one.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.ops.promote import Mover, reconcile
from harness.ports import RunStore, Upstream


def mark_reachability(store: RunStore, upstream: Upstream, now: Callable[[], str]) -> tuple[str, ...]:
    """Fetch upstream, then mark each recorded commit reachable or not; return those gone, sorted.

    Offline the fetch is a no-op: reachability is then the mirror's, as last fetched."""
    upstream.fetch()
    commits = store.commits()
    gone = {sha for sha in commits if not upstream.reachable(sha)}
    for sha in commits:
        store.mark_reachability(sha, sha not in gone, now())
    return tuple(sorted(gone))


def reconcile_all(mover: Mover, *, repaired: Callable[[list[str]], None]) -> tuple[str, ...]:
    """Repair the tags (`repaired` hears what was done before upstream is asked anything, so a
    fetch that fails still leaves it said), then mark reachability; return the commits gone."""
    repaired(reconcile(mover))
    return mark_reachability(mover.store, mover.upstream(), mover.now)

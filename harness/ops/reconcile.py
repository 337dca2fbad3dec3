"""reconcile: the tags back in line with the store, and the recorded commits upstream still has.

A force-push can drop commits from upstream; their runs stay in the store (they are history)
but are marked unreachable, so `history` says so and a bisect never starts from one.

On a fleet, the production service is checked against the store too (`check_fleet`). The store
stays the truth, as for tags, but rolling the service is a production move with a rollout and
health checks, not a retag: reconcile only reports a service out of line (exit 125, so a cron
hears it) unless `--deploy` asks it to roll the service to production's digest.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import DeployFailed, FleetOutOfLine
from harness.ops.deploy import Deploys, deployed_as
from harness.ops.promote import Mover, locked, reconcile
from harness.ports import FleetService, RunStore, Upstream
from harness.rollout import FINE, REPAIRABLE, fleet_check


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


def check_fleet(mover: Mover, service: FleetService, name: str, *, deployer: Deploys | None) -> str:
    """Whether the fleet's service `name` runs production's digest; the line saying so.

    Out of line: FleetOutOfLine (exit 125) saying what was found and what to do, unless
    `deployer` is given and deploying production's release puts it back in line (a service
    missing, never deployed or on another digest; not one whose rollout of production's own
    digest is stuck: that image is what fails, and `rollback --deploy` is the move). Under the
    production lock: a move in progress is waited for, never judged half-done."""
    with locked(mover):
        found = fleet_check(service.current(), mover.store.releases(), name)
        if found.state in FINE:
            return found.line
        production = mover.store.production()
        if deployer is None or found.state not in REPAIRABLE or production is None:
            raise FleetOutOfLine(found.line)
        report = deployer.deploy(production)
        release = deployed_as(mover, production, report)
        if not report.healthy:
            raise DeployFailed(
                f"{found.found}; production (revision {release.revision}) deployed again, but the service did not "
                f"turn healthy: {report.detail}; production is unchanged (`harness rollback --deploy` moves it)"
            )
        return f"{found.found}\nrepaired: service {name} on production's revision {release.revision}: {report.detail}"

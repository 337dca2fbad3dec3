"""Deploy production as the compose service and, when it does not turn healthy, roll back.

The service is recreated through the engine API from compose.yaml (harness parses the
subset it needs), so no compose binary is required. Blue/green is not assumed: a GPU
worker usually owns its GPU, so the old container goes before the new one starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.compose import ServiceSpec
from harness.errors import DeployFailed, PromotionRefused
from harness.fleet import ref_digest
from harness.model import Release
from harness.ops.promote import Mover, RolledBack, locked, promote, rollback
from harness.ports import Reporter, ServiceEngine


@dataclass(frozen=True, kw_only=True)
class DeployReport:
    healthy: bool
    container: str
    detail: str
    # The orchestrator put the previous image back by itself (Swarm's failure_action rollback):
    # the automatic rollback then records the move and deploys nothing again.
    engine_rolled_back: bool = False
    image_ref: str = ""  # on a fleet: the registry reference the service was rolled to ("" locally)


class Deploys(Protocol):
    """Puts a release's image into service and says whether it turned healthy."""

    def deploy(self, release: Release) -> DeployReport: ...


@dataclass(frozen=True, kw_only=True)
class Deployer:
    """Production as the local compose service's container."""

    engine: ServiceEngine
    spec: ServiceSpec
    project: str
    timeout_s: float
    reporter: Reporter
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def deploy(self, release: Release) -> DeployReport:
        return deploy(self, release)


def deploy(d: Deployer, release: Release) -> DeployReport:
    """Recreate the service on `release`'s image and wait for its health check."""
    labels = {"harness.release": str(release.revision), "harness.commit": release.commit}
    d.reporter.step(f"deploying revision {release.revision} ({release.image_id[7:19]}) as {d.project}-{d.spec.name}")
    container = d.engine.replace_service(d.spec, release.image_id, project=d.project, labels=labels)
    deadline = d.clock() + d.timeout_s
    while True:
        state = d.engine.service_state(container)
        if state.health == "healthy" or (d.spec.health is None and state.status == "running"):
            return DeployReport(healthy=True, container=container, detail=f"{state.status}, {state.health or 'up'}")
        broken = state.health == "unhealthy" or state.status in ("exited", "dead", "gone") or state.restarts > 0
        if broken or d.clock() >= deadline:
            why = "timed out waiting for health" if not broken else f"{state.status}, {state.health or 'no health'}"
            tail = " | ".join(state.log_tail.strip().splitlines()[-3:])
            return DeployReport(healthy=False, container=container, detail=f"{why}; last log: {tail}")
        d.sleep(1.0)


def promote_and_deploy(mover: Mover, d: Deploys, spec: str, *, reason: str, force: bool) -> tuple[Release, str]:
    """Promote, deploy, and roll back automatically (a new revision) if the service is unhealthy."""
    with locked(mover):  # held across the deploy: no second move while this one is judged
        release = promote(mover, spec, reason=reason, force=force)
        report = d.deploy(release)
        release = deployed_as(mover, release, report)
        if report.healthy:
            return release, f"service healthy on revision {release.revision}: {report.detail}"
        if release.revision == 1:
            raise DeployFailed(
                f"revision 1 did not turn healthy ({report.detail}) and there is nothing to roll back to"
            )
        why = f"revision {release.revision} failed its health check: {report.detail}"
        try:  # the newest earlier release not known to be bad
            back = rollback(mover, to=None, action="auto-rollback", reason=why).release
        except PromotionRefused as exc:
            # None is known good: restore what served before this promotion, recorded as forced.
            back = rollback(
                mover, to=release.revision - 1, action="auto-rollback", force=True, reason=f"{why}; {exc}"
            ).release
        state = _restore(mover, d, report, failed=release, back=back)
        raise DeployFailed(
            f"revision {release.revision} did not turn healthy ({report.detail}); rolled back automatically "
            f"to {back.image_id[7:19]} as revision {back.revision}: {state}"
        )


def _restore(mover: Mover, d: Deploys, report: DeployReport, *, failed: Release, back: Release) -> str:
    """Put the automatic rollback's image into service; what came of it.

    When the orchestrator already put back what served before (Swarm's own rollback) and that is
    the image the rollback restores, nothing is deployed again: the release records the digest of
    the release that served before, the one the orchestrator restored."""
    if report.engine_rolled_back and back.image_id == failed.from_image_id:
        before = [r for r in mover.store.releases() if r.revision == failed.revision - 1]
        if before and before[0].image_digest:
            mover.store.set_image_digest(back.revision, before[0].image_digest)
        return "the orchestrator had already put it back"
    again = d.deploy(back)
    deployed_as(mover, back, again)
    return "service healthy again" if again.healthy else f"the old image is unhealthy too ({again.detail})"


def deployed_as(mover: Mover, release: Release, report: DeployReport) -> Release:
    """`release` as deployed: with the registry digest its deploy rolled the fleet's service to,
    recorded in the store (a local deploy has none: `release` as it was)."""
    digest = ref_digest(report.image_ref)
    if not digest:
        return release
    mover.store.set_image_digest(release.revision, digest)
    return dataclasses.replace(release, image_digest=digest)


def rollback_and_deploy(
    mover: Mover,
    d: Deploys,
    *,
    to: int | None,
    reason: str,
    force: bool,
    moved: Callable[[RolledBack], None] = lambda rolled: None,
) -> DeployReport:
    """Roll back, then deploy the restored release; DeployFailed when it does not turn healthy
    (production stays moved: the release is recorded). `moved` hears of the move before the
    deploy starts, so a failing deploy never hides that production moved."""
    rolled = rollback(mover, to=to, reason=reason, force=force)
    moved(rolled)
    report = d.deploy(rolled.release)
    release = deployed_as(mover, rolled.release, report)
    if not report.healthy:
        raise DeployFailed(f"service not healthy on revision {release.revision}: {report.detail}")
    return report

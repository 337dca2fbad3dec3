"""Production on a fleet: how a Swarm rollout of the worker service stands (pure).

Swarm rolls the service to a new digest by its `update_config` and, with `failure_action:
rollback`, back on its own when new tasks fail their health check within the monitor window.
harness reads where that stands: the service's UpdateStatus.State and how many of its tasks run
the digest asked for, healthy. Swarm's words for the update states are kept as they are.
`reconcile` compares what the service runs with the store's production (`fleet_check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.fleet import ref_digest
from harness.model import Release

Rollout = Literal["converged", "updating", "rolled_back", "paused", "failed"]

UPDATING = frozenset({"updating", "rollback_started"})  # still moving (forward, or back)
ROLLED_BACK = frozenset({"rollback_completed"})
PAUSED = frozenset({"paused", "rollback_paused"})  # Swarm stopped: failure_action pause, or a rollback that failed


@dataclass(frozen=True, kw_only=True)
class ServiceView:
    """What the manager says of the service, read by the adapter."""

    update_state: str  # UpdateStatus.State ("" before any update: a new service)
    update_message: str
    replicas: int  # asked
    # Tasks running the digest asked for. With a health check, running means it passed: Swarm keeps
    # a task `starting` until its container reports healthy (moby daemon/cluster/executor/
    # container/controller.go, controller.Start waits for the health_status: healthy event, and
    # swarmkit's agent/exec/controller.go moves a task to running only once Start returns; an
    # unhealthy container is shut down and its task fails). So counting running tasks on the digest
    # is counting healthy ones; a task that turns unhealthy later fails within the update's monitor
    # window, and Swarm's failure_action takes it from there. See docs/fleet.md.
    running: int


def rollout(view: ServiceView) -> Rollout:
    """Where the rollout to the digest asked for stands."""
    if view.update_state in ROLLED_BACK:
        return "rolled_back"
    if view.update_state in PAUSED:
        return "paused"
    if view.update_state in UPDATING:
        return "updating"
    if view.update_state not in ("", "completed"):
        return "failed"  # a state this harness does not know: never taken for success
    return "converged" if view.running >= view.replicas else "updating"


# reconcile's cross-check of the store's production against the service (`harness reconcile`).
FleetState = Literal["in_line", "rolling", "missing", "orphan", "undeployed", "differs", "stuck", "short"]
FINE: frozenset[FleetState] = frozenset({"in_line", "rolling"})  # nothing to do (rolling: a rollout under way)
# Deploying production's release puts these in line (`reconcile --deploy`); the others need a person.
REPAIRABLE: frozenset[FleetState] = frozenset({"missing", "undeployed", "differs"})
SETTLED = frozenset({"", "completed", *ROLLED_BACK})


@dataclass(frozen=True, kw_only=True)
class ServiceImage:
    """The service as the manager holds it now (FleetService.current)."""

    image: str  # the reference in its spec: what its tasks are to run
    view: ServiceView  # its update's state, and its tasks running `image`


@dataclass(frozen=True, kw_only=True)
class FleetCheck:
    state: FleetState
    found: str  # what the service runs against what the store says
    todo: str = ""  # what to do about it ("" when nothing)

    @property
    def line(self) -> str:
        return f"{self.found}: {self.todo}" if self.todo else self.found


def production_digest(releases: list[Release]) -> str:
    """The registry digest of production's image: its release's, else (a move made without
    --deploy) the newest recorded for the same image by an earlier deploy; "" when none."""
    if not releases:
        return ""
    image = releases[-1].image_id
    return next((r.image_digest for r in reversed(releases) if r.image_id == image and r.image_digest), "")


def fleet_check(service: ServiceImage | None, releases: list[Release], name: str) -> FleetCheck:
    """Whether the service `name` runs production's digest, as the store records it (the truth)."""
    if not releases:
        if service is None:
            return FleetCheck(state="in_line", found=f"fleet: no production release and no service {name} yet")
        return FleetCheck(
            state="orphan",
            found=f"fleet: service {name} runs {_digest(service.image)} but the store has no production release",
            todo="promote one with `harness promote REF --deploy`, or remove the service",
        )
    production, expected = releases[-1], production_digest(releases)
    what = f"production is revision {production.revision} ({production.image_id[7:19]}"
    redeploy = "`harness reconcile --deploy` rolls the service to production's digest"
    if service is None:
        return FleetCheck(
            state="missing",
            found=f"fleet: {what}) but the fleet has no service {name}",
            todo="`harness reconcile --deploy` deploys it",
        )
    digest = ref_digest(service.image)
    runs = f"service {name} runs {_digest(service.image)}{_of_revision(releases, digest)}{_update(service.view)}"
    if not expected:
        return FleetCheck(
            state="undeployed",
            found=f"fleet: {what}) was never deployed to the fleet (no digest recorded); {runs}",
            todo="`harness reconcile --deploy` deploys production",
        )
    if digest != expected:
        return FleetCheck(
            state="differs",
            found=f"fleet: {runs}, but {what}, digest {expected[7:19]})",
            todo=f"{redeploy} (or move production to it: `harness rollback --to N --deploy`)",
        )
    return _on_production(service.view, f"service {name}", f"revision {production.revision}, digest {expected[7:19]}")


def _on_production(view: ServiceView, service: str, production: str) -> FleetCheck:
    """The service's spec is production's digest: whether its tasks are on it."""
    tasks = f"{view.running}/{view.replicas} tasks on it"
    if view.update_state in UPDATING:
        return FleetCheck(state="rolling", found=f"fleet: {service} is rolling out production ({production}): {tasks}")
    if view.update_state not in SETTLED:  # paused, or a state harness does not know
        return FleetCheck(
            state="stuck",
            found=f"fleet: {service} is on production's digest ({production}){_update(view)}: {tasks}",
            todo="production's image may be what fails there: `harness rollback --deploy` moves production back",
        )
    if view.running < view.replicas:  # Swarm is done, yet replicas are missing: tasks pending, failing, starting
        return FleetCheck(
            state="short",
            found=f"fleet: {service} is on production's digest ({production}) but only {tasks}",
            todo=f"see why with `docker service ps {service.removeprefix('service ')}` on the manager",
        )
    back = "; Swarm rolled its last update back" if view.update_state in ROLLED_BACK else ""
    return FleetCheck(state="in_line", found=f"fleet: {service} runs production ({production}): {tasks}{back}")


def _update(view: ServiceView) -> str:
    """The service's last update when it did not simply complete (rolled back, paused)."""
    if view.update_state in ("", "completed"):
        return ""
    return f" (its update {view.update_state}{': ' + view.update_message if view.update_message else ''})"


def _digest(image: str) -> str:
    digest = ref_digest(image)
    return f"digest {digest[7:19]}" if digest else f"{image} (no digest)"


def _of_revision(releases: list[Release], digest: str) -> str:
    """Which release's image that digest is, if any (the newest deployed as it)."""
    match = next((r for r in reversed(releases) if digest and r.image_digest == digest), None)
    return f" (revision {match.revision}'s image)" if match else ""

"""Production on a fleet: the release's image pushed, the Swarm service rolled to its digest.

Swarm runs the rollout by the service's update policy and, with `failure_action: rollback`, puts
the previous digest back by itself when new tasks fail their health check; harness waits for
where it stands (rollout.py) and records the outcome as the local deployer's is recorded (an
automatic rollback is a new release; ops/deploy.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.compose import ServiceSpec
from harness.model import Release
from harness.ops.deploy import DeployReport
from harness.ports import FleetService, Reporter
from harness.rollout import rollout


@dataclass(frozen=True, kw_only=True)
class FleetDeployer:
    service: FleetService
    spec: ServiceSpec
    name: str  # the Swarm service
    publish: Callable[[Release], str]  # the release's image in the registry: the reference nodes pull
    timeout_s: float
    reporter: Reporter
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def deploy(self, release: Release) -> DeployReport:
        image = self.publish(release)
        labels = {"harness.release": str(release.revision), "harness.commit": release.commit}
        self.reporter.step(f"rolling service {self.name} to revision {release.revision} ({image})")
        self.service.roll(self.spec, image, labels)
        deadline = self.clock() + self.timeout_s
        while True:
            view = self.service.view(image)
            state = rollout(view)
            seen = f"{view.running}/{view.replicas} tasks on it, update {view.update_state or 'none'}"
            detail = f"{seen}: {view.update_message}" if view.update_message else seen
            if state == "converged":
                return DeployReport(healthy=True, container=self.name, detail=detail, image_ref=image)
            if state != "updating" or self.clock() >= deadline:
                why = "timed out waiting for the rollout" if state == "updating" else f"rollout {state}"
                rolled_back = state == "rolled_back"
                return DeployReport(
                    healthy=False,
                    container=self.name,
                    detail=f"{why}; {detail}",
                    engine_rolled_back=rolled_back,
                    image_ref=image,
                )
            self.sleep(1.0)

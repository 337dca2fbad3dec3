"""harness with `fleet:` on a real 3-node Swarm: build-and-test and bisect --jobs 3 run as Swarm jobs.

Images are built on this host's engine as without a fleet, pushed to the registry and run on the
nodes by digest, one GPU (a generic resource) each; each run records its node and digest. The
fake GPUs carry no CUDA: the sample's runner runs on the CPU inside the task (run.gpu: auto,
the suite needs no GPU), which is what the tests can show on this machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from tests.fleet.project import CULPRIT, fleet_project, invoke_json, recorded_runs
from tests.fleet.swarm import Cluster

pytestmark = pytest.mark.integration


def test_build_and_test_and_a_bisect_run_on_the_fleets_nodes(tmp_path: Path, cluster: Cluster) -> None:
    config, shas = fleet_project(tmp_path, cluster)
    code, doc = invoke_json(config, "build-and-test", shas[0])
    assert code == 0, doc
    cfg = load_config(config)
    first = recorded_runs(cfg.state_dir, cfg.runs_dir)[0]
    assert first.node and first.image_digest.startswith("sha256:")
    assert Path(first.run_dir).is_relative_to(cfg.runs_dir)  # the outputs came back by the shared path
    code, doc = invoke_json(config, "bisect", "--good", shas[0], "--bad", shas[-1], "--jobs", "3")
    assert code == 0, doc
    assert doc["first_bad"] == shas[CULPRIT]
    nodes = {r.node for r in recorded_runs(cfg.state_dir, cfg.runs_dir) if r.node}
    assert len(nodes) >= 2, f"every run on one node: {nodes}"  # spread over the fleet

"""harness with `fleet:` on a real 3-node Swarm: build-and-test and bisect --jobs 3 run as Swarm jobs.

Images are built on this host's engine as without a fleet, pushed to the registry and run on the
nodes by digest, one GPU (a generic resource) each; each run records its node and digest. The
fake GPUs carry no CUDA: the sample's runner runs on the CPU inside the task (run.gpu: auto,
the suite needs no GPU), which is what the tests can show on this machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli.app import app
from harness.config import load_config
from harness.model import RunRecord
from harness.sample.make import Files, broken_import, template
from harness.store import Store
from tests.conftest import write_config
from tests.fleet.swarm import Cluster
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration
CULPRIT = 5


def _history() -> list[tuple[str, Files]]:
    wgp = template()["wgp.py"] or ""
    history: list[tuple[str, Files]] = [("base", template())]
    for i in range(1, 8):
        text = broken_import(wgp) if i >= CULPRIT else wgp
        history.append((f"commit {i}", {"wgp.py": f"{text}\n# commit {i}\n"}))
    return history


def _project(tmp_path: Path, cluster: Cluster) -> tuple[Path, list[str]]:
    upstream = tmp_path / "upstream"
    shas = write_commits(upstream, _history())
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("fleet"))
    results = tmp_path / "shared"
    results.mkdir()
    with config.open("a") as out:
        out.write(
            f"fleet:\n  manager: {cluster.manager_url}\n  registry: {cluster.registry_host}\n"
            f"  node_registry: {cluster.registry_nodes}\n  results: {results}\n"
        )
    return config, shas


def _runs(state_dir: Path, runs_dir: Path) -> list[RunRecord]:
    store = Store(state_dir / "state.db", runs_dir=runs_dir)
    try:
        return store.runs(100)
    finally:
        store.close()


def _json(config: Path, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["-c", str(config), *args, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, {"output": result.output}


def test_build_and_test_and_a_bisect_run_on_the_fleets_nodes(tmp_path: Path, cluster: Cluster) -> None:
    config, shas = _project(tmp_path, cluster)
    code, doc = _json(config, "build-and-test", shas[0])
    assert code == 0, doc
    cfg = load_config(config)
    first = _runs(cfg.state_dir, cfg.runs_dir)[0]
    assert first.node and first.image_digest.startswith("sha256:")
    assert Path(first.run_dir).is_relative_to(cfg.runs_dir)  # the outputs came back by the shared path
    code, doc = _json(config, "bisect", "--good", shas[0], "--bad", shas[-1], "--jobs", "3")
    assert code == 0, doc
    assert doc["first_bad"] == shas[CULPRIT]
    nodes = {r.node for r in _runs(cfg.state_dir, cfg.runs_dir) if r.node}
    assert len(nodes) >= 2, f"every run on one node: {nodes}"  # spread over the fleet

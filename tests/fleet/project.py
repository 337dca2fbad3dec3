"""A synthetic upstream and a harness.yaml with `fleet:` pointing at the test Swarm, for tests
that drive harness's CLI against the fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli.app import app
from harness.fleetconfig import FleetConfig
from harness.model import RunRecord
from harness.sample.make import Files, broken_import, template
from harness.store import Store
from tests.conftest import write_config
from tests.fleet.swarm import Cluster
from tests.integration.conftest import unique_repo

CULPRIT = 5  # of the 8 commits: the first with an import that fails


def history(*, sleep_s: float = 0, commits: int = 8, culprit: int = CULPRIT) -> list[tuple[str, Files]]:
    """`commits` commits, the `culprit`th and later broken; each run's import of wgp takes
    `sleep_s` first (a task then runs long enough to be killed or interrupted while it runs)."""
    wgp = template()["wgp.py"] or ""
    if sleep_s:
        wgp = f"import time\ntime.sleep({sleep_s})\n{wgp}"
    made: list[tuple[str, Files]] = [("base", {**template(), "wgp.py": wgp})]
    for i in range(1, commits):
        text = broken_import(wgp) if i >= culprit else wgp
        made.append((f"commit {i}", {"wgp.py": f"{text}\n# commit {i}\n"}))
    return made


def fleet_project(
    tmp_path: Path, cluster: Cluster, *, sleep_s: float = 0, registry: str = ""
) -> tuple[Path, list[str]]:
    """The upstream's history and a harness.yaml whose fleet is `cluster` (its registry unless
    `registry` names another, for the nodes too); the shared results path is under tmp_path."""
    upstream = tmp_path / "upstream"
    shas = write_commits(upstream, history(sleep_s=sleep_s))
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("fleet"))
    results = tmp_path / "shared"
    results.mkdir()
    with config.open("a") as out:
        out.write(
            f"fleet:\n  manager: {cluster.manager_url}\n  registry: {registry or cluster.registry_host}\n"
            f"  node_registry: {registry or cluster.registry_nodes}\n  results: {results}\n"
        )
    return config, shas


def fleet_config(cluster: Cluster, results: Path, **changes: Any) -> FleetConfig:
    """The `fleet:` of `cluster` (its manager and registry) with `results` as the shared path."""
    return FleetConfig(
        manager=cluster.manager_url,
        registry=cluster.registry_host,
        node_registry=cluster.registry_nodes,
        results=results,
        **changes,
    )


def recorded_runs(state_dir: Path, runs_dir: Path) -> list[RunRecord]:
    store = Store(state_dir / "state.db", runs_dir=runs_dir)
    try:
        return store.runs(100)
    finally:
        store.close()


def invoke_json(config: Path, *args: str) -> tuple[int, Any]:
    """harness's exit code and its --json document (or its output, when it printed none)."""
    result = CliRunner().invoke(app, ["-c", str(config), *args, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, {"output": result.output}

"""Benchmark of issue 19 (run by hand, as root, not a test): prints figures, asserts nothing.

`harness bisect` over a 64-commit synthetic upstream (the sample, commit 33 breaks the import)
on a real Swarm made on this machine (tests/fleet/swarm.py: three dockerd in network namespaces,
one fake GPU each, Debian's docker-registry), twice from a fresh state each time:
  1 node:  nodes 2 and 3 drained, `--jobs 1` (one probe at a time, as on one GPU host)
  3 nodes: all active, `--jobs 3` (three probes per round, one per node)
Before timing, each state's good endpoint is tested (env, deps and the first push are made
then, untimed), so both bisects start with the same images warm and only the probes timed.
The fake GPUs carry no CUDA: the sample's runner runs on the CPU inside each task, and the
three nodes share this machine's cores (the 3-node figure is a lower bound of a real fleet's).
Usage: PYTHONPATH=. .venv/bin/python bench/fleet_bisect.py   (it makes its Swarm with tests/fleet/swarm.py)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from harness.adapters.git_repo import write_commits
from tests.conftest import write_config
from tests.fleet.project import history
from tests.fleet.swarm import Cluster, swarm_cluster, swarm_unavailable
from tests.fleet.test_fleet_production import worker_compose

COMMITS, CULPRIT = 64, 33
HARNESS = [sys.executable, "-m", "harness"]


def project(folder: Path, cluster: Cluster, name: str, shas_from: Path | None) -> tuple[Path, list[str]]:
    upstream = shas_from or folder / "upstream"
    shas = write_commits(upstream, history(commits=COMMITS, culprit=CULPRIT)) if shas_from is None else _shas(upstream)
    results = folder / name / "shared"
    results.mkdir(parents=True)
    config = write_config(folder / name, upstream=upstream, repo=f"harness-bench/fleet-{cluster.tag}-{name}")
    with config.open("a") as out:
        out.write(
            f"fleet:\n  manager: {cluster.manager_url}\n  registry: {cluster.registry_host}\n"
            f"  node_registry: {cluster.registry_nodes}\n  results: {results}\n"
        )
    return config, shas


def _shas(upstream: Path) -> list[str]:
    out = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=upstream, capture_output=True, text=True)
    return out.stdout.split()


def harness(config: Path, *args: str) -> tuple[int, Any, float, str]:
    """Exit code, the --json document, wall seconds and the progress (stderr)."""
    started = time.monotonic()
    proc = subprocess.run([*HARNESS, "-c", str(config), *args, "--json"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    try:
        return proc.returncode, json.loads(proc.stdout[proc.stdout.index("{") :]), seconds, proc.stderr
    except ValueError:
        return proc.returncode, {"stderr": proc.stderr[-2000:]}, seconds, proc.stderr


def rounds(progress: str) -> int:
    """The bisect's waits for runs, from its progress lines: the speculative start that runs the
    endpoints and first probes at once, each multisection round, each probe run alone."""
    lines = [line.removeprefix("==> ") for line in progress.splitlines()]
    at_once = any(line.startswith("speculative: building and running") for line in lines)
    return (
        int(at_once)
        + sum(line.startswith("round: ") for line in lines)
        + sum(line.startswith("probe ") and line.endswith(": build-and-test") for line in lines)
    )


def availability(cluster: Cluster, active: set[str]) -> None:
    with closing(cluster.client()) as manager:
        for node in manager.nodes.list():
            name = node.attrs["Description"]["Hostname"]
            node.update({**node.attrs["Spec"], "Availability": "active" if name in active else "drain"})


def side(config: Path, shas: list[str], jobs: int) -> str:
    code, warm, warm_s, _ = harness(config, "build-and-test", shas[0])
    if code != 0:
        return f"warming failed (exit {code}): {warm}"
    code, doc, seconds, progress = harness(config, "bisect", "--good", shas[0], "--bad", shas[-1], "--jobs", str(jobs))
    if code != 0:
        return f"bisect failed (exit {code}): {doc}"
    probes = doc.get("probes", [])
    right = "right" if doc.get("first_bad") == shas[CULPRIT] else f"WRONG ({doc.get('first_bad')})"
    fresh = [p for p in probes if p.get("source") == "fresh"]
    return (
        f"{seconds:.1f} s, {rounds(progress)} rounds, {len(fresh)} fresh probes, culprit {right}"
        f" (warm-up {warm_s:.1f} s untimed)"
    )


def production(config: Path, shas: list[str], cluster: Cluster) -> str:
    """Wall of `promote --deploy` of two good images in turn onto the 3-replica service
    (start-first, parallelism 1), then of `rollback --deploy` to the first."""
    (config.parent / "compose.yaml").write_text(worker_compose(10))
    with config.open("a") as out:
        out.write(f"  service: {cluster.tag}-worker\n  replicas: 3\n  update:\n    monitor_s: 2\n")
        out.write(f"deploy:\n  compose_file: {config.parent / 'compose.yaml'}\n  health_timeout_s: 300\n")
    figures = []
    for what, args in (
        ("promote A", ("promote", shas[0], "--deploy")),
        ("promote B", ("promote", shas[1], "--deploy")),
        ("rollback to A", ("rollback", "--deploy")),
    ):
        if what == "promote B" and harness(config, "build-and-test", shas[1])[0] != 0:
            return "could not test the second image"
        started = time.monotonic()
        proc = subprocess.run([*HARNESS, "-c", str(config), *args], capture_output=True, text=True)
        figures.append(f"{what} {time.monotonic() - started:.1f} s (exit {proc.returncode})")
    with closing(cluster.client()) as manager:
        for service in manager.services.list(filters={"name": f"{cluster.tag}-worker"}):
            service.remove()
    return ", ".join(figures)


def cleanup(cluster: Cluster) -> None:
    """The bench's images on this host's engine (its repositories and their registry names)."""
    names = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True
    ).stdout.split()
    mine = [n for n in names if f"harness-bench/fleet-{cluster.tag}-" in n]
    if mine:
        subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True)


def main() -> None:
    if reason := swarm_unavailable():
        print(f"cannot make a Swarm here: {reason}")
        return
    with tempfile.TemporaryDirectory(prefix="harness-fleet-bench-") as tmp:
        folder = Path(tmp)
        with swarm_cluster(folder / "swarm") as cluster:
            try:
                one, shas = project(folder, cluster, "one", None)
                three, _ = project(folder, cluster, "three", folder / "upstream")
                availability(cluster, {"node1"})
                print(f"1 node  (--jobs 1): {side(one, shas, 1)}")
                availability(cluster, {"node1", "node2", "node3"})
                print(f"3 nodes (--jobs 3): {side(three, shas, 3)}")
                print(f"production on 3 replicas: {production(three, shas, cluster)}")
            finally:
                cleanup(cluster)


if __name__ == "__main__":
    main()

"""harness bisect on the real engine over a 16-commit synthetic upstream.

Commit 9 breaks the import (and stays broken), commit 7 cannot be built for an infra
reason (an unreachable package index), commit 8 restores the requirements.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.adapters.git_repo import write_commits
from harness.bisect import next_probe, next_round
from harness.bisect_log import BisectLog
from harness.errors import EXIT_INTERRUPTED, EXIT_USAGE
from harness.model import Verdict
from harness.runplan import MODEL_DIR
from harness.sample.make import Files, broken_import, template
from harness.store import INTERRUPTED
from tests.conftest import write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
CULPRIT, INFRA = 9, 7
# The test recipe (tests/conftest.py LIGHT_RECIPE) allows exactly this index line, with its reason:
# upstream's index options are otherwise dropped (reqpolicy), and the commit would build fine.
UNREACHABLE = "--index-url http://127.0.0.1:9/simple\nnumpy>=1.26\nav>=12\nharness-no-such-package==0.0.1\n"


def _history() -> list[tuple[str, Files]]:
    wgp = template()["wgp.py"] or ""
    history: list[tuple[str, Files]] = [("base", template())]
    for i in range(1, 16):
        text = broken_import(wgp) if i >= CULPRIT else wgp
        files: Files = {"wgp.py": f"{text}\n# commit {i}\n"}
        if i == INFRA:
            files["requirements.txt"] = UNREACHABLE
        if i == INFRA + 1:
            files["requirements.txt"] = template()["requirements.txt"]
        history.append(("stuff" if i == CULPRIT else f"commit {i}", files))
    return history


def _bisect(project: Project, *args: str) -> tuple[int, dict[str, Any]]:
    return project.run_json("bisect", *args)


def test_bisect_names_culprit_skips_infra_and_reuses_everything(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, doc = _bisect(project, "--good", shas[0], "--bad", shas[-1])
    assert code == 0, doc
    assert doc["first_bad"] == shas[CULPRIT]
    assert shas[INFRA] in doc["skipped"]
    assert doc["culprit"]["commit"]["message"] == "stuff"
    assert doc["culprit"]["integration"] == [["wgp.py", 2, 1]]  # import + marker
    probes = doc["probes"]
    assert isinstance(probes, list) and len(probes) <= 2 + 5  # endpoints + ceil(log2 15) + one skip
    images = {i.id for i in project.engine.client.images.list(name=project.repo)}
    runs = len(project.store().runs(1000))
    # A second bisect over the same range reuses every record and builds nothing.
    code, again = _bisect(project, "--good", shas[0], "--bad", shas[-1])
    assert code == 0 and again["first_bad"] == shas[CULPRIT]
    assert {p["source"] for p in again["probes"]} == {"reused"}
    assert {i.id for i in project.engine.client.images.list(name=project.repo)} == images
    assert len(project.store().runs(1000)) == runs


def test_bad_endpoints_stop_before_any_other_probe_counts(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, doc = _bisect(project, "--good", shas[CULPRIT], "--bad", shas[-1])
    assert code == EXIT_USAGE and "good endpoint" in str(doc["output"])
    # On this CPU host the midpoint was built and run at once with the endpoints (issue 18) ...
    midpoint = next_probe(shas[CULPRIT:], {shas[CULPRIT]: Verdict.PASS, shas[-1]: Verdict.FAIL})
    assert midpoint is not None
    ends = f"{shas[CULPRIT][:12]}, {shas[-1][:12]}"
    assert f"speculative: building and running {ends} and midpoint {midpoint[:12]} at once" in str(doc["output"])
    # ... and its run is recorded, as any run is, but it is no step of the bisect.
    assert {r.commit for r in project.store().runs(1000)} == {shas[CULPRIT], midpoint, shas[-1]}
    log = BisectLog(project.store())
    session = log.sessions()[0]
    assert [s.commit for s in log.steps(session.id)] == [shas[CULPRIT], shas[-1]] and not session.finished


def test_killed_bisect_resumes_without_redoing_finished_probes(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "-c",
            str(project.config),
            "bisect",
            "--good",
            shas[0],
            "--bad",
            shas[-1],
            "--prefetch",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while True:
        sessions = BisectLog(project.store()).sessions()
        if sessions and len(BisectLog(project.store()).steps(sessions[0].id)) >= 3:
            break
        assert proc.poll() is None and time.monotonic() < deadline, "bisect ended before it could be killed"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # The probe killed mid-run is recorded as interrupted (store.py): no verdict, tested again.
    before = {r.commit for r in project.store().runs(1000) if r.summary != INTERRUPTED}
    log = BisectLog(project.store())
    steps_before = len(log.steps(log.sessions()[0].id))
    code, doc = _bisect(project, "--resume")
    assert code == 0 and doc["first_bad"] == shas[CULPRIT], doc
    for probe in doc["probes"][steps_before:]:
        assert (probe["source"] == "reused") == (probe["commit"] in before)
    counts: dict[str, int] = {}
    for record in project.store().runs(1000):
        if record.summary != INTERRUPTED:
            counts[record.commit] = counts.get(record.commit, 0) + 1
    assert max(counts.values()) == 1  # no finished probe was run twice


def test_git_bisect_run_agrees(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    assert f"{shas[CULPRIT]} is the first bad commit" in project.git_bisect_run(shas[-1], shas[0])


def _gated(wgp: str, gate: str) -> str:
    """wgp.py that, at import, waits (at most a minute) for the test to create `gate`."""
    wait = (
        "import pathlib as _gate_path, time as _gate_time\n"
        "_gate_deadline = _gate_time.monotonic() + 60\n"
        f"while not _gate_path.Path({gate!r}).exists() and _gate_time.monotonic() < _gate_deadline:\n"
        "    _gate_time.sleep(0.1)\n"
    )
    return wgp.replace("import json\n", wait + "import json\n", 1)


def test_multisection_bisect_agrees_with_plain(project: Project, tmp_path: Path) -> None:
    # The probes of the first round hold at import until the test has seen their containers
    # running at once, and only then opens the gate: ran at once, or never released (a minute).
    cache = tmp_path / "models"
    cache.mkdir()
    write_config(project.folder, upstream=project.upstream, repo=project.repo, run_extra=f"  model_cache: {cache}\n")
    index = [str(i) for i in range(16)]
    first_round = [int(i) for i in next_round(index, {"0": Verdict.PASS, "15": Verdict.FAIL}, 3)]
    gated = [i for i in first_round if i != INFRA]  # the infra commit never gets to run
    assert len(gated) >= 2, first_round
    history = [
        (message, {**files, "wgp.py": _gated(files["wgp.py"] or "", f"{MODEL_DIR}/open")} if i in gated else files)
        for i, (message, files) in enumerate(_history())
    ]
    shas = write_commits(project.upstream, history)
    command = ["bisect", "--good", shas[0], "--bad", shas[-1], "--jobs", "3", "--prefetch", "0", "--json"]
    log = tmp_path / "bisect.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "-c", str(project.config), *command],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    waiting = {shas[i] for i in gated}
    while proc.poll() is None and not (cache / "open").exists():
        running = project.engine.client.api.containers(filters={"label": "harness.commit", "status": "running"})
        if waiting <= {c["Labels"]["harness.commit"] for c in running}:
            (cache / "open").touch()
        time.sleep(0.2)
    stdout, _ = proc.communicate(timeout=900)
    assert (cache / "open").exists(), f"the probes of one round never ran at once ({[s[:12] for s in waiting]})"
    assert proc.returncode == 0, log.read_text()[-3000:]
    doc = json.loads(stdout)
    assert doc["first_bad"] == shas[CULPRIT] and shas[INFRA] in doc["skipped"]
    probed = [p["commit"] for p in doc["probes"]]
    assert len(probed) == len(set(probed))  # no commit probed twice
    counts: dict[str, int] = {}
    for record in project.store().runs(1000):
        if record.summary != INTERRUPTED:
            counts[record.commit] = counts.get(record.commit, 0) + 1
    assert max(counts.values()) == 1


def test_several_refs_at_once(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, docs = project.run_json("build-and-test", shas[1], shas[CULPRIT], shas[2])
    assert code == 1, docs  # the worst verdict of the three: one FAIL
    assert [d["verdict"] for d in docs] == ["pass", "fail", "pass"]
    assert len(project.store().runs()) == 3


def _hanging(wgp: str) -> str:
    """Generation blocks (the probe's test container stays up until someone stops it)."""
    return wgp.replace(
        "    model = get_model_def(model_type)\n",
        "    import time\n    time.sleep(600)\n    model = get_model_def(model_type)\n",
        1,
    )


@pytest.mark.parametrize(
    "options",
    [("--prefetch", "2"), ("--jobs", "2", "--prefetch", "0")],
    ids=["plain-with-prefetch", "multisection"],
)
def test_interrupted_bisect_leaves_no_container(project: Project, options: tuple[str, ...]) -> None:
    wgp = template()["wgp.py"] or ""
    # Commits of this run only (its repository's name in the tree): a container another run left
    # hanging on the same content must not pass for this bisect's probe.
    history: list[tuple[str, Files]] = [("base", {**template(), "run.txt": f"{project.repo}\n"})]
    history += [(f"hangs {i}", {"wgp.py": f"{_hanging(wgp)}\n# commit {i}\n"}) for i in range(1, 6)]
    history.append(("breaks", {"wgp.py": broken_import(_hanging(wgp))}))
    shas = write_commits(project.upstream, history)
    command = ["bisect", "--good", shas[0], "--bad", shas[-1], *options]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "-c", str(project.config), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    hanging = set(shas[1:-1])

    def running() -> list[str]:
        # The low-level list: other tests' containers may vanish between a list and an inspect.
        containers = project.engine.client.api.containers(filters={"label": "harness.commit", "status": "running"})
        return [c["Labels"]["harness.commit"] for c in containers if c["Labels"]["harness.commit"] in hanging]

    deadline = time.monotonic() + 600
    while not running():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no probe's test container ever ran"
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=120)  # the run's own limit (run.timeout_s) is 300 s
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
        pytest.fail(f"bisect still running 120 s after SIGINT (probes of {running()} still up):\n{output[-2000:]}")
    assert proc.returncode == EXIT_INTERRUPTED, output
    left = [sha[:12] for sha in shas if project.containers(sha)]
    assert left == [], f"containers left behind for {left}:\n{output}"

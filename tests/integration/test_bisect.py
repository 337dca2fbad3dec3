"""harness bisect on the real engine over a 16-commit synthetic upstream.

Commit 9 breaks the import (and stays broken), commit 7 cannot be built for an infra
reason (an unreachable package index), commit 8 restores the requirements.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from harness.adapters.git_repo import write_commits
from harness.bisect_log import BisectLog
from harness.errors import EXIT_USAGE
from harness.sample.make import Files, broken_import, template
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
CULPRIT, INFRA = 9, 7
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
    assert shas[INFRA] in doc["skipped"]  # type: ignore[operator]
    assert doc["culprit"]["commit"]["message"] == "stuff"  # type: ignore[index]
    assert doc["culprit"]["integration"] == [["wgp.py", 2, 1]]  # type: ignore[index]  # import + marker
    probes = doc["probes"]
    assert isinstance(probes, list) and len(probes) <= 2 + 5  # endpoints + ceil(log2 15) + one skip
    images = {i.id for i in project.engine.client.images.list(name=project.repo)}
    runs = len(project.store().runs(1000))
    # A second bisect over the same range reuses every record and builds nothing.
    code, again = _bisect(project, "--good", shas[0], "--bad", shas[-1])
    assert code == 0 and again["first_bad"] == shas[CULPRIT]
    assert {p["source"] for p in again["probes"]} == {"reused"}  # type: ignore[union-attr]
    assert {i.id for i in project.engine.client.images.list(name=project.repo)} == images
    assert len(project.store().runs(1000)) == runs


def test_bad_endpoints_stop_before_any_further_build(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, doc = _bisect(project, "--good", shas[CULPRIT], "--bad", shas[-1])
    assert code == EXIT_USAGE and "good endpoint" in str(doc["output"])
    assert {r.commit for r in project.store().runs(1000)} == {shas[CULPRIT], shas[-1]}


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
    before = {r.commit for r in project.store().runs(1000)}
    log = BisectLog(project.store())
    steps_before = len(log.steps(log.sessions()[0].id))
    code, doc = _bisect(project, "--resume")
    assert code == 0 and doc["first_bad"] == shas[CULPRIT], doc
    for probe in doc["probes"][steps_before:]:  # type: ignore[index]
        assert (probe["source"] == "reused") == (probe["commit"] in before)
    counts: dict[str, int] = {}
    for record in project.store().runs(1000):
        counts[record.commit] = counts.get(record.commit, 0) + 1
    assert max(counts.values()) == 1  # no finished probe was run twice


def test_git_bisect_run_agrees(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    assert f"{shas[CULPRIT]} is the first bad commit" in project.git_bisect_run(shas[-1], shas[0])


def test_multisection_bisect_agrees_with_plain(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, doc = _bisect(project, "--good", shas[0], "--bad", shas[-1], "--jobs", "3", "--prefetch", "0")
    assert code == 0, doc
    assert doc["first_bad"] == shas[CULPRIT] and shas[INFRA] not in (doc["first_bad"],)
    probed = [p["commit"] for p in doc["probes"]]
    assert len(probed) == len(set(probed))  # no commit probed twice
    counts: dict[str, int] = {}
    for record in project.store().runs(1000):
        counts[record.commit] = counts.get(record.commit, 0) + 1
    assert max(counts.values()) == 1


def test_several_refs_at_once(project: Project) -> None:
    shas = write_commits(project.upstream, _history())
    code, docs = project.run_json("build-and-test", shas[1], shas[CULPRIT], shas[2])
    assert code == 1, docs  # the worst verdict of the three: one FAIL
    assert [d["verdict"] for d in docs] == ["pass", "fail", "pass"]
    assert len(project.store().runs()) == 3

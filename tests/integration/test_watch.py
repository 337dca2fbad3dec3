"""harness watch on the real engine: a synthetic upstream receives commits while the watcher
runs (poll_s: 1); a real HTTP receiver on 127.0.0.1 takes the webhooks. Kill -9 at known
points (a build, a run, a bisect, a promotion): a restart resumes without running anything twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.errors import EXIT_PASS, EXIT_SKIP, EXIT_TERMINATED
from harness.model import Verdict
from harness.sample.make import Files, broken_import, template
from harness.store import INTERRUPTED
from tests.conftest import write_config
from tests.integration.conftest import Project
from tests.receiver import Receiver

pytestmark = pytest.mark.integration
FAULT_LAUNCHER = Path(__file__).with_name("fault_launcher.py")
WGP = template()["wgp.py"] or ""
REQUIREMENTS = template()["requirements.txt"] or ""


def _code(n: int, *, broken: bool = False) -> Files:
    return {"wgp.py": f"{broken_import(WGP) if broken else WGP}\n# commit {n}\n"}


def _configure(project: Project, hook: str, watch: str = "") -> None:
    """watch: polling each second, every level, the receiver as the webhook; `watch` adds keys."""
    text = project.config.read_text()
    project.config.write_text(
        f"{text}watch:\n  poll_s: 1\n  revalidate_s: 0\n  retention_s: 0\n{watch}"
        f"notify:\n  webhooks: [{{url: '{hook}'}}]\n  retries: 0\n  backoff_s: 0\n"
    )


@contextmanager
def _watching(project: Project, *args: str, launcher: str = "") -> Iterator[subprocess.Popen[str]]:
    """`harness watch` (or the fault launcher parked at `launcher`) as a process; its output in watch.log."""
    head = [str(FAULT_LAUNCHER), launcher] if launcher else ["-m", "harness"]
    log = (project.folder / "watch.log").open("a")
    proc = subprocess.Popen(
        [sys.executable, *head, "-c", str(project.config), "watch", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        log.close()


def _wait(
    project: Project, proc: subprocess.Popen[str], what: str, done: Callable[[], bool], timeout: float = 600
) -> None:
    """Until `done` (checked twice a second), failing with the watcher's log if it ends or times out."""
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (project.folder / "watch.log").read_text()[-3000:]
            how = "timed out" if proc.poll() is None else f"exited {proc.returncode}"
            pytest.fail(f"waiting for {what}: watch {how}\n{tail}")
        time.sleep(0.5)


def _events(hook: Receiver) -> list[tuple[str, str]]:
    return [(str(b["event"]), str(b["commit"])) for b in hook.bodies]


def _judged(project: Project) -> list[tuple[str, str]]:
    """(commit, level) of every judging run (PASS/FAIL/FLAKY) recorded, oldest first."""
    runs = reversed(project.store().runs(10_000))
    return [(r.commit, r.level) for r in runs if r.verdict in (Verdict.PASS, Verdict.FAIL, Verdict.FLAKY)]


def test_watch_follows_upstream_bisects_a_break_promotes_after_soak_and_notifies(project: Project) -> None:
    with Receiver() as hook:
        _configure(project, hook.url, "  promote: auto\n  soak: {runs: 2}\n")
        c0 = project.commit("base", template())
        with _watching(project) as proc:
            _wait(project, proc, "c0 passes and is promoted", lambda: ("promoted", c0) in _events(hook))
            c1 = project.commit("code only", _code(1))
            _wait(project, proc, "c1 promoted", lambda: ("promoted", c1) in _events(hook))
            c2 = project.commit("the break", _code(2, broken=True))
            project.commit("still broken", _code(3, broken=True))
            c4 = project.commit("broken too", _code(4, broken=True))
            _wait(project, proc, "the culprit", lambda: any(e == "culprit" for e, _ in _events(hook)))
            c5 = project.commit("the fix", _code(5))
            _wait(project, proc, "c5 promoted", lambda: ("promoted", c5) in _events(hook))
            c6 = project.commit(
                "requirements", {"requirements.txt": REQUIREMENTS.replace("numpy>=1.26", "numpy>=1.25")}
            )
            _wait(project, proc, "c6 promoted", lambda: ("promoted", c6) in _events(hook))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == EXIT_TERMINATED
    assert _events(hook) == [
        ("pass", c0), ("promoted", c0), ("pass", c1), ("promoted", c1), ("fail", c4), ("culprit", c4),
        ("pass", c5), ("promoted", c5), ("pass", c6), ("promoted", c6),
    ]  # fmt: skip
    fail, culprit = hook.bodies[4], hook.bodies[5]
    assert fail["level"] == "smoke" and "smplfitter" in str(fail["summary"]) and "FAILS at smoke" in str(fail["text"])
    assert culprit["culprit"] == c2 and culprit["summary"] == "the break"
    report = Path(str(culprit["report"]))
    assert "smplfitter" in (report / "impact.md").read_text() or (report / "impact.json").is_file()
    judged = _judged(project)
    soaked = {(c, "baseline") for c in (c0, c1, c5, c6)}
    assert all(judged.count(k) == (2 if k in soaked else 1) for k in set(judged)), judged  # soak: 2nd baseline
    releases = project.store().releases()
    assert [r.commit for r in releases] == [c0, c1, c5, c6] and releases[-1].image_id == project.image_id(c6[:12])
    assert _containers(project) == []
    site = project.folder / ".harness" / "report"  # regenerated after the events: the last one shows
    assert f"commits/{c2}.html" in (site / "bisects").iterdir().__next__().read_text()
    assert "production" in (site / "index.html").read_text() and (site / f"commits/{c6}.html").is_file()


@pytest.mark.parametrize("point", ["build", "run", "bisect-step", "after-store-write"])
def test_kill_9_anywhere_and_a_restart_resumes_without_a_second_run(project: Project, point: str) -> None:
    with Receiver() as hook:
        _configure(project, hook.url, "  promote: auto\n  soak: {runs: 1}\n" if point == "after-store-write" else "")
        c0 = project.commit("base", template())
        if point == "bisect-step":  # a pass, then three commits the last of which fails: a bisect of 2 probes
            assert _once(project) == EXIT_PASS
            for n in (1, 2, 3):
                project.commit(f"commit {n}", _code(n, broken=n >= 2))
        with _watching(project, launcher=point) as proc:
            _wait(project, proc, f"fault point {point}", lambda: f"fault point {point} reached" in _log(project))
            proc.kill()
        for _ in range(3):  # the restarted watcher: cycles until nothing is left to do
            assert _once(project) == EXIT_PASS, _log(project)[-3000:]
        judged = _judged(project)
        assert len(judged) == len(set(judged)), judged  # no commit judged twice at one level
        kinds = [b["key"] for b in hook.bodies]
        assert len(kinds) == len(set(kinds)) and kinds, kinds  # each event once
        production = project.store().production()
        if point == "after-store-write":
            assert production is not None and project.image_id("production") == production.image_id
        if point == "bisect-step":
            assert [e for e, _ in _events(hook)][-2:] == ["fail", "culprit"]
        if point in ("build", "run"):
            interrupted = [r for r in project.store().runs(100) if r.summary.startswith(INTERRUPTED)]
            assert len(interrupted) == 1 and interrupted[0].commit == c0


def _containers(project: Project) -> list[object]:
    """This state's containers (other tests' commits have the same shas: their histories are alike)."""
    label = f"harness.state={project.store().state_id()}"
    return list(project.engine.client.containers.list(all=True, filters={"label": label}))


def _log(project: Project) -> str:
    path = project.folder / "watch.log"
    return path.read_text() if path.exists() else ""


def _once(project: Project, engine: Path | None = None) -> int:
    """One cycle (`watch --once`); `engine`: the engine's socket to use (a proxy the test cuts)."""
    env = os.environ | ({"DOCKER_HOST": f"unix://{engine}"} if engine else {})
    with (project.folder / "watch.log").open("a") as log:
        return subprocess.run(
            [sys.executable, "-m", "harness", "-c", str(project.config), "watch", "--once"],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
            env=env,
        ).returncode


def test_a_second_watcher_exits_at_once_naming_the_first(project: Project) -> None:
    with Receiver() as hook:
        _configure(project, hook.url)
        project.commit("base", template())
        with _watching(project, launcher="run") as proc:
            _wait(project, proc, "the first watcher's run", lambda: "fault point run reached" in _log(project))
            second = subprocess.run(
                [sys.executable, "-m", "harness", "-c", str(project.config), "watch", "--once"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == EXIT_SKIP
            assert "another `harness watch` runs on this state" in second.stderr and f"pid {proc.pid}" in second.stderr
            code, status = project.run("status")
            assert code == 0 and f"watch:      running (pid {proc.pid}" in status


def test_receiver_down_fetch_failing_and_engine_gone_the_loop_survives_and_escalates_once(
    project: Project, tmp_path: Path
) -> None:
    with Receiver() as hook:
        _configure(project, hook.url, "  escalate_after: 2\n  backoff_max_s: 2\n")
        c0 = project.commit("base", template())
        hook.stop()  # down: the pass waits in the outbox
        assert _once(project) == EXIT_PASS
        assert hook.bodies == [] and len(project.store().pending_events()) == 1
        hook.start()
        good = project.config.read_text()
        project.config.write_text(good.replace(f"url: {project.upstream}", "url: http://127.0.0.1:9/upstream.git"))
        assert [_once(project) for _ in range(3)] == [EXIT_SKIP] * 3  # fetch refused: infra, three times
        project.config.write_text(good)
        c1 = project.commit("code only", _code(1))
        socket = tmp_path / "engine.sock"  # nothing listens: the engine is gone for these cycles
        assert [_once(project, engine=socket) for _ in range(3)] == [EXIT_SKIP] * 3
        assert _once(project) == EXIT_PASS
    # a failure of another kind starts a streak of its own (the fetch's ended without a success)
    assert _events(hook) == [
        ("pass", c0), ("escalation", ""), ("escalation", ""), ("pass", c1), ("recovered", ""),
    ]  # fmt: skip
    fetch, engine = str(hook.bodies[1]["summary"]), str(hook.bodies[2]["summary"])
    assert "2 cycles in a row: cannot reach upstream 'http://127.0.0.1:9/upstream.git'" in fetch
    assert "2 cycles in a row" in engine and "engine" in engine.lower(), engine
    assert _judged(project) == [(c0, lv) for lv in ("contract", "smoke", "baseline")] + [
        (c1, lv) for lv in ("contract", "smoke", "baseline")
    ]  # nothing judged while the engine was gone


def _needs_weights() -> Files:
    """The sample, whose t2v model names a weight file in its definition and fails without it."""
    files = template()
    definition = json.loads(files["defaults/t2v_tiny.json"] or "")
    definition["model"]["URLs"] = ["https://huggingface.co/org/tiny/resolve/main/t2v_tiny_bf16.safetensors"]
    files["defaults/t2v_tiny.json"] = json.dumps(definition)
    check = (
        "    import os as _o\n"
        "    if not _o.path.exists(_o.path.join(_o.path.dirname(_o.path.abspath(__file__)), 'ckpts', "
        "'t2v_tiny_bf16.safetensors')):\n"
        "        raise FileNotFoundError('ckpts/t2v_tiny_bf16.safetensors')\n"
    )
    files["wgp.py"] = WGP.replace(
        "    model = get_model_def(model_type)\n", check + "    model = get_model_def(model_type)\n", 1
    )
    return files


def test_production_failing_revalidation_is_told_with_the_hosts_reasons_and_promotion_stays(
    project: Project, tmp_path: Path
) -> None:
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / "t2v_tiny_bf16.safetensors").write_bytes(b"weights")
    write_config(project.folder, upstream=project.upstream, repo=project.repo, run_extra=f"  model_cache: {cache}\n")
    with Receiver() as hook:
        _configure(project, hook.url)
        c0 = project.commit("needs weights", _needs_weights())
        assert _once(project) == EXIT_PASS, _log(project)[-3000:]
        assert project.run("promote", c0)[0] == 0
        (cache / "t2v_tiny_bf16.safetensors").unlink()  # this host lost production's weights
        project.config.write_text(project.config.read_text().replace("revalidate_s: 0", "revalidate_s: 3600"))
        assert _once(project) == EXIT_PASS
        assert _once(project) == EXIT_PASS  # not due again within the hour: one event
    failing = [b for b in hook.bodies if b["event"] == "production_failing"]
    assert len(failing) == 1 and failing[0]["commit"] == c0, hook.bodies
    assert "no longer passes on this host" in str(failing[0]["text"])
    assert f"weights missing in {cache}: t2v_tiny_bf16.safetensors" in str(failing[0]["summary"]), failing[0]
    assert [r.action for r in project.store().releases()] == ["promote"]


def test_sigterm_during_a_run_abandons_it_cleanly_and_a_restart_runs_it(project: Project) -> None:
    with Receiver() as hook:
        _configure(project, hook.url)
        c0 = project.commit("base", template())
        with _watching(project, launcher="run") as proc:
            _wait(project, proc, "the run", lambda: "fault point run reached" in _log(project))
            assert _containers(project) != []  # the test container runs
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == EXIT_TERMINATED
        assert _containers(project) == []  # removed before the exit
        assert _once(project) == EXIT_PASS
    assert _events(hook) == [("pass", c0)]

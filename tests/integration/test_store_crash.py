"""The run store survives writers killed mid-work (kill -9), and is backed up consistently.

The writer says when it is at work and the test kills it only then, at a point that
varies by round but not by machine load: a sleep before the kill would (on a loaded
machine) kill most writers before their first write, and prove nothing.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from harness.model import RunKey, Verdict
from harness.naming import LAST_GOOD
from harness.runfolder import OWNER
from harness.sample.make import template
from harness.store import INTERRUPTED, Store
from tests.integration.conftest import Project
from tests.unit.test_runfolder import FACTS

# Modes: "streaming" says "committed" after k runs and goes on writing (the kill lands
# anywhere in the next writes); "inside" commits k runs, then stops inside the transaction
# of run k (its row written, the pointer not yet) until it is killed there.
WRITER = """
import dataclasses, itertools, pathlib, sys
sys.path.insert(0, {root!r})
from tests.unit.test_store import RECORD
from harness.store import Store
name, k, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
store = Store(pathlib.Path({db!r}))
done = 0

def say(text):
    sys.stdout.write(text + "\\n")
    sys.stdout.flush()

def trace(sql):
    if mode == "inside" and done == k and sql.lstrip().startswith("INSERT OR REPLACE INTO pointers"):
        say("inside")
        sys.stdin.readline()  # never answered: the kill comes while the transaction is open

store.db.set_trace_callback(trace)
for i in itertools.count():
    store.add_run(dataclasses.replace(RECORD, run_id=f"{{name}}-{{i:06d}}"), move_pointer="last-good")
    done = i + 1
    if mode == "streaming" and done == k:
        say("committed")
"""
ROUNDS = 60


def _kill_mid_work(script: Path, name: str, k: int, mode: str) -> None:
    """Start a writer, wait until it says it is at work, kill -9 it there."""
    with subprocess.Popen(
        [sys.executable, str(script), name, str(k), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        said = proc.stdout.readline().strip()  # blocks until the writer is at work (or has died)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert said == mode if mode == "inside" else said == "committed", f"writer {name} died before its work: {said!r}"
    assert proc.returncode == -signal.SIGKILL, f"writer {name} ended on its own ({proc.returncode})"


def test_kill_9_of_a_writer_mid_work_never_corrupts_the_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(Path(__file__).resolve().parents[2]), db=str(db)))
    written = 0
    for round_ in range(ROUNDS):
        name, k, mode = f"w{round_:03d}", 1 + round_ % 7, ("streaming", "inside")[round_ % 2]
        _kill_mid_work(script, name, k, mode)
        store = Store(db)
        assert store.integrity() == "ok"
        mine = sorted(r.run_id for r in store.runs(10**6) if r.run_id.startswith(f"{name}-"))
        # Every acknowledged write survived; the one killed inside its transaction left nothing.
        assert mine[:k] == [f"{name}-{i:06d}" for i in range(k)]
        if mode == "inside":
            assert len(mine) == k, mine[k:]
        # Run and pointer move in one transaction: the pointer names this writer's last run.
        pointer = store.pointer(LAST_GOOD)
        assert pointer is not None and pointer.run_id == mine[-1]
        written += len(mine)
        store.close()
    store = Store(db)
    assert len(store.runs(10**6)) == written >= sum(1 + r % 7 for r in range(ROUNDS))
    store.backup(tmp_path / "copy.db")
    copy = Store(tmp_path / "copy.db")
    assert copy.integrity() == "ok" and len(copy.runs(10**6)) == written


CLAIMER = """
import sys, pathlib
sys.path.insert(0, {root!r})
from harness.runfolder import claim
lock = claim(pathlib.Path(sys.argv[1]), {facts!r})
print("claimed", flush=True)
sys.stdin.readline()  # never answered: killed -9 while holding the claim
"""


def _claim_then_kill(tmp_path: Path, run_dir: Path) -> None:
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER.format(root=str(Path(__file__).resolve().parents[2]), facts=FACTS))
    with subprocess.Popen(
        [sys.executable, str(script), str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        said = proc.stdout.readline().strip()  # the claim is held from here on
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert said == "claimed" and proc.returncode == -signal.SIGKILL


def test_a_run_whose_harness_was_killed_is_recorded_as_interrupted(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20240102-030405-abcdef"
    _claim_then_kill(tmp_path, run_dir)
    assert json.loads((run_dir / OWNER).read_text())["commit"] == "a" * 40
    store = Store(tmp_path / "state.db")
    try:
        record = store.run("20240102-030405-abcdef")
        assert record is not None and record.verdict is Verdict.ERROR and record.summary == INTERRUPTED
        facts = (record.commit, record.level, record.suite_hash, record.run_dir)
        assert facts == ("a" * 40, "smoke", "h", str(run_dir))
        assert record.started == "2024-01-02T03:04:05+00:00"
        key = RunKey(commit="a" * 40, suite_hash="h", contract_hash="c", level="smoke")
        assert not record.vouches_for(key)  # a bisect tests it again, never skips it as infra
    finally:
        store.close()
    assert run_dir.is_dir()  # kept
    again = Store(tmp_path / "state.db")
    assert len(again.runs()) == 1  # recorded once
    again.close()


def test_kill_9_of_build_and_test_is_recorded_as_interrupted(project: Project) -> None:
    """A build-and-test killed with -9 left a run folder and no record (11 seen): the next
    command records it as interrupted, so `history` has no hole."""
    sha = project.commit("good", template())
    with subprocess.Popen(
        [sys.executable, "-m", "harness", "-c", str(project.config), "build-and-test", sha, "--level", "smoke"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the run's folder exists (and is owned) once its line is printed
            seen.append(line)
            if found := re.search(r"run (\d{8}-\d{6}-[0-9a-f]{6}): commit", line):
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert found, "".join(seen)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    run_id = found.group(1)
    code, history = project.run_json("history")
    assert code == 0
    [row] = [r for r in history if r["run_id"] == run_id]
    assert (row["verdict"], row["summary"], row["commit"]) == (Verdict.ERROR.value, INTERRUPTED, sha)
    assert Path(row["run_dir"]).is_dir()

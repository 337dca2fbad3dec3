"""The run store survives writers killed mid-work (kill -9), and is backed up consistently.

The writer says when it is at work and the test kills it only then, at a point that
varies by round but not by machine load: a sleep before the kill would (on a loaded
machine) kill most writers before their first write, and prove nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from harness.naming import LAST_GOOD
from harness.store import Store

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

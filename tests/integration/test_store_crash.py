"""The run store survives writers killed at random (kill -9), and is backed up consistently."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.naming import LAST_GOOD
from harness.store import Store

WRITER = """
import sys, itertools
sys.path.insert(0, {root!r})
import dataclasses
from tests.unit.test_store import RECORD
from harness.store import Store
store = Store(__import__("pathlib").Path({db!r}))
for i in itertools.count():
    store.add_run(dataclasses.replace(RECORD, run_id=f"{{sys.argv[1]}}-{{i:06d}}"), move_pointer="last-good")
"""


def test_random_kill_9_of_a_writer_never_corrupts_the_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(Path(__file__).resolve().parents[2]), db=str(db)))
    rng = random.Random(1)
    for round_ in range(100):
        proc = subprocess.Popen([sys.executable, str(script), f"w{round_:03d}"])
        time.sleep(0.15 + rng.random() * 0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        store = Store(db)
        assert store.integrity() == "ok"
        pointer = store.pointer(LAST_GOOD)
        assert pointer is None or store.run(pointer.run_id) is not None
        store.close()
    store = Store(db)
    assert len(store.runs(10**6)) > 100
    store.backup(tmp_path / "copy.db")
    copy = Store(tmp_path / "copy.db")
    assert copy.integrity() == "ok" and len(copy.runs(10**6)) == len(store.runs(10**6))

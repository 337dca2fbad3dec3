"""A damaged store is refused by every command (exit 125, the path, how to recover), untouched,
and build-and-test builds nothing for a run it could not record.

Before: a store truncated to 0 bytes was recreated empty (history empty, production none,
reconcile "consistent" while the engine held :production); garbage in its middle gave a raw
sqlite3.DatabaseError traceback, and build-and-test built, then crashed, recording nothing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import EXIT_SKIP
from harness.naming import commit_tag
from harness.sample.make import template
from harness.store import Store
from tests.integration.conftest import Project


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(20_000)
        fh.write(random.Random(13).randbytes(8_000))


@pytest.mark.parametrize("damage", [_truncate, _garbage], ids=["truncated", "garbage"])
def test_every_command_refuses_a_damaged_store_and_nothing_is_built(
    project: Project, damage: Callable[[Path], None]
) -> None:
    first = project.commit("one", template())
    second = project.commit("two", {"README.md": "second\n"})
    code, record = project.run_json("build-and-test", first, "--level", "smoke")
    assert code == 0, record
    code, output = project.run("promote", first, "--force", "--reason", "test")
    assert code == 0, output
    state_dir = load_config(project.config).state_dir
    db = state_dir / "state.db"
    store = Store(db)
    for i in range(80):  # enough rows that offset 20,000 is inside the file's used pages
        store.add_run(dataclasses.replace(store.runs(1)[0], run_id=f"20240101-000000-{i:06x}"))
    # Everything into the main file: the CLI runs above left connections open in this process,
    # so the WAL would outlive this close and mask the damage with newer copies of its pages.
    assert store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    store.close()
    assert db.stat().st_size > 28_000
    damage(db)
    before = db.read_bytes()
    runs_before = sorted(p.name for p in (state_dir / "runs").iterdir())
    commands = [
        ["history"],
        ["show", record["run_id"]],
        ["status"],
        ["reconcile"],
        ["releases"],
        ["gc", "--dry-run"],
        ["backup", str(project.folder / "copy.db")],
        ["build-and-test", second, "--level", "smoke"],
    ]
    for args in commands:
        code, output = project.run(*args)
        assert code == EXIT_SKIP, (args, output)
        assert str(db) in output and "harness backup" in output, (args, output)
        assert "Traceback" not in output and "harness bug" not in output, (args, output)
    assert db.read_bytes() == before  # untouched
    assert project.image_id(commit_tag(second)) is None  # nothing built for a run it could not record
    assert sorted(p.name for p in (state_dir / "runs").iterdir()) == runs_before

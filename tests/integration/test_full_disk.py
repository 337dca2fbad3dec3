"""A full disk under the state folder is infra (exit 125), said with what was kept; never a
traceback (exit 1) that records nothing. The state folder is a small tmpfs, full at a known point.

Before: copying the inputs (ops/test.py), `_write_results` and the container log follower
raised OSError(ENOSPC): exit 1 and no record (the follower's thread died silently).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.adapters.engine import Engine
from harness.errors import EXIT_SKIP, RunInfraError, StoreError
from harness.model import Verdict
from harness.ops.build_and_test import _write_results
from harness.runplan import GpuPlan, RunRequest
from harness.sample.make import template
from harness.store import Store
from tests.conftest import BASE_IMAGE, write_config
from tests.integration.conftest import Project
from tests.unit.test_store import RECORD


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # lazy: the CLI runs keep the store open


def _fill(folder: Path) -> Path:
    """Write a file in `folder` until the disk says ENOSPC: from here on every write fails."""
    filler = folder / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_inputs_bigger_than_the_disk_are_infra_and_recorded(project: Project, small_disk: Path) -> None:
    sha = project.commit("good", template())
    big = project.folder / "big.mp4"
    big.write_bytes(os.urandom(1 << 20) * 12)  # 12 MiB: more than the whole state folder
    cases = f"""\
    - id: t2v
      model: t2v_tiny
      prompt: p
      guide_video: {big}
"""
    config = write_config(project.folder, upstream=project.upstream, repo=project.repo, cases=cases)
    config.write_text(config.read_text() + f"state_dir: {small_disk}\n")
    code, output = project.run("build-and-test", sha)
    assert code == EXIT_SKIP, output
    assert "disk full copying the suite's inputs" in output and "partial copies were removed" in output, output
    assert "Traceback" not in output and "harness bug" not in output
    store = Store(small_disk / "state.db")
    try:
        [record] = store.runs()
    finally:
        store.close()
    assert record.verdict is Verdict.ERROR and "disk full" in record.summary and record.commit == sha
    assert Path(record.run_dir).is_dir() and not Path(record.run_dir, "in").exists()


def test_results_on_a_full_disk_become_infra_with_the_judged_verdict(small_disk: Path) -> None:
    run_dir = small_disk / "runs" / "r"
    run_dir.mkdir(parents=True)
    _fill(small_disk)
    verdict, summary = _write_results(run_dir, {"results": []}, (), Verdict.PASS, "1/1 cases pass")
    assert verdict is Verdict.ERROR and verdict.exit_code == EXIT_SKIP
    assert "disk full writing" in summary and "judged pass before: 1/1 cases pass" in summary
    assert not (run_dir / "results.json").exists()  # no partial file left


def test_the_store_on_a_full_disk_is_infra_and_keeps_what_it_had(small_disk: Path) -> None:
    store = Store(small_disk / "state.db")
    store.add_run(RECORD)
    _fill(small_disk)
    big = dataclasses.replace(RECORD, run_id="big", summary="x" * (1 << 20))
    with pytest.raises(StoreError, match="full") as info:
        store.add_run(big)
    assert info.value.exit_code == EXIT_SKIP and "is kept" in str(info.value)
    assert [r.run_id for r in store.runs()] == [RECORD.run_id]
    store.close()


def test_the_container_log_on_a_full_disk_is_infra(engine: Engine, small_disk: Path) -> None:
    log = small_disk / "container.log"
    log.write_bytes(b"")
    _fill(small_disk)
    lines: list[str] = []
    request = RunRequest(
        image=BASE_IMAGE,
        command=("sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"),
        labels=(("harness.run", "full-disk-test"),),
        mounts=(),
        environment=(),
        gpu=GpuPlan(mode="none", reason="test"),
        timeout_s=120,
        name="harness-full-disk-log-test",
    )
    with pytest.raises(RunInfraError, match="disk full writing the container log"):
        engine.containers.run(request, log_path=str(log), on_line=lines.append)
    assert lines[-1] == "line 1999"  # followed to the end all the same


def test_a_full_disk_still_lets_the_store_be_read_and_records_the_dead_run_later(small_disk: Path) -> None:
    """Recording a dead run's folder is a write: on a full disk it waits for a later opening.
    Opening at all needs SQLite's -shm file: with none yet, a full disk is refused clearly."""
    from harness.runfolder import claim
    from harness.store import INTERRUPTED
    from tests.unit.test_runfolder import FACTS

    store = Store(small_disk / "state.db")
    store.add_run(RECORD)
    store.close()
    claim(small_disk / "runs" / "20240102-030405-00000d", FACTS).release()  # its harness stopped unrecorded
    filler = _fill(small_disk)
    with pytest.raises(StoreError, match="full") as info:
        Store(small_disk / "state.db")
    assert info.value.exit_code == EXIT_SKIP
    filler.unlink()
    holder = Store(small_disk / "state.db")  # another command at work: the -shm file exists
    holder.db.execute("DELETE FROM runs WHERE run_id='20240102-030405-00000d'")  # as if not yet recorded
    filler = _fill(small_disk)
    store = Store(small_disk / "state.db")
    assert [r.run_id for r in store.runs()] == [RECORD.run_id]  # read; the dead run waits
    store.close()
    holder.close()
    filler.unlink()
    store = Store(small_disk / "state.db")
    assert [(r.run_id, r.summary) for r in store.runs()] == [
        ("20240102-030405-00000d", INTERRUPTED),
        (RECORD.run_id, RECORD.summary),
    ]
    store.close()

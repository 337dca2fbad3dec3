"""Run folders and their owner lock: which run is still in progress, which one's harness died.

build-and-test makes each run folder holding `owner.lock` locked (flock) until the run is
recorded. The kernel drops the lock when the process ends, even by kill -9, and never hands
it to a pid that is reused later (a pid file checked alive could name a stranger). So a run
folder with no record whose lock can be taken was left by a harness that stopped before
recording it: the store records it as interrupted when it is next opened (no hole in history).

The folder is made under a staging name and renamed into place with the lock already held:
no one ever sees a run folder of this harness whose owner has not locked it yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.diskfull import mapped
from harness.session import session_id

OWNER = "owner.lock"
STAGING = ".new-"
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # build_and_test.new_run_id


class OwnerLock:
    """The open, locked owner file of a run in progress; `release` once the run is recorded."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # a run leaving without a record: its lock goes with it
        self.release()


def abandon(run_dir: Path, lock: OwnerLock) -> None:
    """Remove the folder of a run that never ran (harness refused it: exit 128), then drop its
    lock: removed while still locked, so no sweeper records it as an interrupted run."""
    shutil.rmtree(run_dir, ignore_errors=True)
    lock.release()


@dataclass(frozen=True, kw_only=True)
class Orphan:
    """A run folder nobody records: its owner's facts (commit, level, started...), empty when
    the folder has no owner file (made by a harness before owner locks)."""

    run_id: str
    run_dir: Path
    facts: dict[str, str]


def claim(run_dir: Path, facts: Mapping[str, str]) -> OwnerLock:
    """Make `run_dir` with its owner lock held by this process and `facts` written in it."""
    staging = run_dir.with_name(f"{STAGING}{run_dir.name}")
    with mapped(f"creating the run folder {run_dir}", "nothing was kept"):
        staging.mkdir(parents=True)
        # The lock file gets its name only once locked: a sweeper never takes an owner.lock that
        # its claimer has created but not locked yet (it would remove the staging folder under it).
        unlocked = staging / f".{OWNER}.new"
        try:
            fd = os.open(unlocked, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        lock = OwnerLock(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, json.dumps({**facts, "session": session_id(), "pid": str(os.getpid())}).encode())
            unlocked.rename(staging / OWNER)
            staging.rename(run_dir)
        except BaseException:
            lock.release()
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return lock


@contextlib.contextmanager
def _taken(path: Path) -> Iterator[bool]:
    """Whether the owner lock at `path` could be taken (its owner is gone); held while inside."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # its harness is at work
            return
        yield True
    finally:
        os.close(fd)


def _facts(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_bytes()[:65536])
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


def orphans(runs_root: Path, recorded: set[str]) -> Iterator[Orphan]:
    """Run folders under `runs_root` with no record in `recorded` and no living owner.

    Each is yielded while its owner lock is held here, so its owner cannot be at work on it.
    Staging folders of claims that died before renaming hold nothing but the lock: removed
    (one that died before naming its lock stays: a few bytes, hidden, never a run).
    """
    try:
        entries = sorted(os.scandir(runs_root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if entry.name.startswith(STAGING):
            with _taken(path / OWNER) as free:
                if free:
                    shutil.rmtree(path, ignore_errors=True)
            continue
        if entry.name in recorded or not RUN_ID.fullmatch(entry.name):
            continue
        owner = path / OWNER
        if not owner.exists():  # a folder of a harness from before owner locks: long dead
            yield Orphan(run_id=entry.name, run_dir=path, facts={})
            continue
        with _taken(owner) as free:
            if free:
                yield Orphan(run_id=entry.name, run_dir=path, facts=_facts(owner))


def in_progress(runs_root: Path, recorded: set[str]) -> Iterator[Orphan]:
    """Run folders with no record whose owner is at work on them (its lock is held): the
    report's "running" list. A folder its owner left is an orphan instead (`orphans`)."""
    try:
        entries = sorted(os.scandir(runs_root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name in recorded or not RUN_ID.fullmatch(entry.name) or not (path / OWNER).is_file():
            continue
        with _taken(path / OWNER) as free:
            if not free:
                yield Orphan(run_id=entry.name, run_dir=path, facts=_facts(path / OWNER))

"""One watcher per state: an exclusive lock on <state_dir>/watch.lock, held for the process's
life, whose file says who holds it (a second `watch` exits at once naming the holder)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from harness.errors import LockBusy


class WatchLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # the lock goes with the descriptor (and with the process on kill -9)
            self._fd = -1


def hold(path: Path, holder: dict[str, object]) -> WatchLock:
    """Take the lock or raise LockBusy (exit 125) saying who holds it since when."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = _holder(fd)
        os.close(fd)
        raise LockBusy(f"another `harness watch` runs on this state ({path}): {who}; stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder, sort_keys=True).encode(), 0)
    return WatchLock(fd)


def _holder(fd: int) -> str:
    try:
        doc = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "holder unknown"
    if not isinstance(doc, dict):
        return "holder unknown"
    return f"pid {doc.get('pid', '?')} on {doc.get('host', '?')} since {doc.get('since', '?')}"


def holder(path: Path) -> str | None:
    """Who holds the lock now (a watcher is running), or None (none is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    finally:
        os.close(fd)
    return None

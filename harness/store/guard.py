"""Every sqlite3 error of the store becomes a StoreError that names the file and how to recover."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from harness.errors import StoreError

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


def recovery(path: Path) -> str:
    """How to get a refused or damaged store back: said in every such error."""
    return (
        f"to recover, move {path} aside together with {path.name}-wal and {path.name}-shm if present "
        "(the -wal holds the latest writes; a stale one beside a restored copy would damage it), "
        f"then copy a backup made by `harness backup` to {path}, or move the state folder's store "
        "aside to start a new one (history, last-good and production are then unknown)"
    )


def _no_space(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def explain(path: Path, what: str, exc: sqlite3.Error) -> str:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    # SQLite says only "disk I/O error" when it cannot create its -shm file on a full disk.
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _no_space(path.parent)):
        return (
            f"{path}: {what}: the disk of the state folder is full ({exc}): this write was rolled back, "
            f"everything recorded before stays; free space on {path.parent}, then run it again"
        )
    if code == sqlite3.SQLITE_NOTADB:
        return (
            f"{path}: {what}: the file is not a SQLite database ({exc}), not a harness run store; harness "
            f"leaves it untouched; {recovery(path)}"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return f"{path}: {what}: the run store is damaged ({exc}); harness leaves it untouched; {recovery(path)}"
    return f"{path}: {what}: {exc}"


def _store_path(owner: object) -> Path:
    """The file of a Store or of an object holding one (`.store`)."""
    path = getattr(owner, "path", None)
    return path if isinstance(path, Path) else _store_path(getattr(owner, "store", None))


def guarded(what: str) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Any sqlite3 error of the method becomes a StoreError naming the file (exit 125, no traceback)."""

    def wrap(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(method)
        def inner(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(explain(_store_path(self), what, exc)) from exc

        return inner

    return wrap

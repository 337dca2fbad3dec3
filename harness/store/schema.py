"""The store's tables, their version, the migrations from each older version, and the making of
a new store file (whole, or not at all)."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from harness.errors import StoreError
from harness.store.guard import recovery

SCHEMA_VERSION = 8
STORE_NAME = "state.db"  # <state_dir>/state.db, beside <state_dir>/runs
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, image_id TEXT NOT NULL,
  image_tag TEXT NOT NULL, deps_key TEXT NOT NULL, suite TEXT NOT NULL,
  suite_hash TEXT NOT NULL, level TEXT NOT NULL, verdict TEXT NOT NULL, summary TEXT NOT NULL,
  started TEXT NOT NULL, build_seconds REAL NOT NULL, run_seconds REAL NOT NULL,
  run_dir TEXT NOT NULL, cases TEXT NOT NULL, contract_hash TEXT NOT NULL DEFAULT '',
  wrapper_sha TEXT NOT NULL DEFAULT '', node TEXT NOT NULL DEFAULT '',
  image_digest TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_commit ON runs (commit_sha, suite_hash, level);
CREATE TABLE IF NOT EXISTS releases (
  revision INTEGER PRIMARY KEY, action TEXT NOT NULL, image_id TEXT NOT NULL,
  commit_sha TEXT NOT NULL, from_image_id TEXT NOT NULL, run_id TEXT NOT NULL,
  created TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
  based_on INTEGER NOT NULL, image_digest TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS unreachable (commit_sha TEXT PRIMARY KEY, seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pointers (
  name TEXT PRIMARY KEY, image_id TEXT NOT NULL, commit_sha TEXT NOT NULL,
  run_id TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bisects (
  id TEXT PRIMARY KEY, good TEXT NOT NULL, bad TEXT NOT NULL, level TEXT NOT NULL,
  suite_hash TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
  answer TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', case_id TEXT NOT NULL DEFAULT '',
  side TEXT NOT NULL DEFAULT 'upstream', fixed TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS bisect_steps (
  bisect_id TEXT NOT NULL, seq INTEGER NOT NULL, commit_sha TEXT NOT NULL, verdict TEXT NOT NULL,
  source TEXT NOT NULL, seconds REAL NOT NULL, run_id TEXT NOT NULL, summary TEXT NOT NULL,
  PRIMARY KEY (bisect_id, seq)
);
CREATE TABLE IF NOT EXISTS watch (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watch_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
  created TEXT NOT NULL, body TEXT NOT NULL, sent_to TEXT NOT NULL DEFAULT '[]',
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', done TEXT NOT NULL DEFAULT ''
);
"""
# Columns the bisects table gained while bisect_log.py kept it outside the schema version.
_BISECT_ADDED = (("reason", "TEXT NOT NULL DEFAULT ''"), ("case_id", "TEXT NOT NULL DEFAULT ''"))
# v5: wrapper mode. The side a bisect walks and the other side's fixed commit.
_BISECT_SIDES = (("side", "TEXT NOT NULL DEFAULT 'upstream'"), ("fixed", "TEXT NOT NULL DEFAULT ''"))


def _add_missing(db: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Add the columns `table` lacks: a table this version's SCHEMA just made has them already."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _bisects_under_the_version(db: sqlite3.Connection) -> None:
    """v4: the bisect tables, which bisect_log.py made on first use and widened by itself, are
    the store's. A v3 store may hold them in any of their shapes, or not at all: the tables of
    this version were made just before (CREATE IF NOT EXISTS); only missing columns are added."""
    _add_missing(db, "bisects", _BISECT_ADDED)


def _wrapper_mode(db: sqlite3.Connection) -> None:
    """v5: the wrapper's commit of a run; the side of a bisect and its fixed other side."""
    _add_missing(db, "runs", (("wrapper_sha", "TEXT NOT NULL DEFAULT ''"),))
    _add_missing(db, "bisects", _BISECT_SIDES)


def _fleet_runs(db: sqlite3.Connection) -> None:
    """v7: where a fleet's run ran, and from which digest ('' for local runs)."""
    _add_missing(db, "runs", (("node", "TEXT NOT NULL DEFAULT ''"), ("image_digest", "TEXT NOT NULL DEFAULT ''")))


def _fleet_releases(db: sqlite3.Connection) -> None:
    """v8: the registry digest a release's deploy rolled the fleet's service to ('' otherwise)."""
    _add_missing(db, "releases", (("image_digest", "TEXT NOT NULL DEFAULT ''"),))


# Each step takes the store from version n to n + 1, inside the opening transaction.
MIGRATIONS: dict[int, tuple[str, ...] | Callable[[sqlite3.Connection], None]] = {
    # v2: the contract digest that judged a run. Older rows get '' (unknown): they never vouch.
    1: ("ALTER TABLE runs ADD COLUMN contract_hash TEXT NOT NULL DEFAULT ''",),
    # v3: run folders carry an owner lock (runfolder.py) and a folder without a record whose
    # lock is free is recorded as interrupted. No table changes: the version keeps a harness
    # from before owner locks off this store (its run folders in progress would look dead).
    2: (),
    3: _bisects_under_the_version,
    # v5: wrapper mode: the wrapper's commit a run tested with upstream's ('' for harness's own runner).
    4: _wrapper_mode,
    # v6: watch's state and its outbox of events (new tables, made by SCHEMA before migrating).
    5: (),
    # v7: a fleet: the Swarm node that ran a run, and the registry digest it ran from.
    6: _fleet_runs,
    # v8: a fleet: the registry digest a release's image was deployed as.
    7: _fleet_releases,
}


def create(path: Path) -> None:
    """A new store, made whole in a staging file and linked into place: a store file that
    exists is never one harness was still making (a kill -9 leaves only the staging file),
    so an empty or foreign file at `path` always means damage, never a store being born."""
    staging = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        db = sqlite3.connect(staging, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        finally:
            db.close()  # the last connection: the WAL is checkpointed into the file and removed
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)  # never replaces: a parallel opener that linked first wins
    finally:
        for leftover in (staging, staging.with_name(f"{staging.name}-wal"), staging.with_name(f"{staging.name}-shm")):
            leftover.unlink(missing_ok=True)


def refuse_empty(path: Path) -> None:
    """An existing, empty store file is refused before SQLite opens it (it would take it for a new
    database, and delete a WAL beside it). Only stat, never open: closing any descriptor of the
    file would drop the POSIX locks this process's SQLite connections hold on it."""
    if path.stat().st_size:
        return  # not SQLite at all: SQLite says "file is not a database" on its first read, writing nothing
    wal = path.with_name(f"{path.name}-wal")
    size = wal.stat().st_size if wal.is_file() else 0
    kept = f"; {wal} ({size} bytes) may hold its latest writes: keep it" if size else ""
    raise StoreError(
        f"{path}: cannot open the run store: the file is empty (0 bytes), not a harness run store; harness "
        f"leaves it untouched (it creates a store only where none exists){kept}; {recovery(path)}"
    )

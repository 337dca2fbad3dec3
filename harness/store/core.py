"""Opening the run store: SQLite in WAL mode, full synchronous writes, one transaction per write.

Holds every run record and the pointers (`last-good`, later `production`) as image ids:
tags are derived from the store, never the other way round.

Never silently lost: only a missing store is created (in a staging file, linked into place
whole, so a store is never seen half made); an existing file that is empty, not SQLite, not
a harness store or fails `PRAGMA quick_check` is refused untouched (exit 125) with how to
recover. Every sqlite3 error becomes a StoreError naming the file.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from pathlib import Path

from harness.errors import StoreError, UsageError
from harness.runfolder import orphans
from harness.store.guard import explain, guarded, recovery
from harness.store.releases import ReleasesRole
from harness.store.rows import RUN_COLUMNS, RUN_SLOTS, orphan_row
from harness.store.runs import RunsRole
from harness.store.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, STORE_NAME, create, refuse_empty
from harness.store.watch import WatchRole


class Store(RunsRole, ReleasesRole, WatchRole):
    """The run store: its roles (runs, releases) share one connection; bisect_log.py adds the bisects."""

    def __init__(self, path: Path, *, runs_dir: Path | None = None) -> None:
        """`runs_dir`: where this state's run folders live (default: beside the store)."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # read-only place, a file in the way: the config's to fix (exit 128)
            why = f"cannot create the state folder {path.parent}: {exc.strerror}"
            raise UsageError(f"{why}; set state_dir in harness.yaml to a folder harness may write") from exc
        try:
            if not os.path.lexists(path):
                create(path)
            refuse_empty(path)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(explain(path, "cannot open the run store", exc)) from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the run store: {exc.strerror}") from exc
        try:
            self._check()
            self._enable_wal()
            self.db.execute("PRAGMA synchronous=FULL")
            with self.transaction():
                self._schema()
            if path.name == STORE_NAME:  # a state folder's store, not a backup copy somewhere
                self._record_orphans(runs_dir or path.parent / "runs")
        except (sqlite3.Error, StoreError) as exc:
            self.db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(explain(path, "cannot open the run store", exc)) from exc

    def _check(self) -> None:
        """Refuse a damaged store, or a SQLite file that is not a harness store, before writing to it.

        quick_check reads every page once (O(N), no index cross-check): 0.85 ms on a store of
        1,000 runs (1.5 MB; the whole open 6.5 ms), measured on the 2-core test host. A damaged
        page found later would fail a run after its build, with nothing recorded.
        """
        problem = " ".join(str(self.db.execute("PRAGMA quick_check(1)").fetchone()[0]).split())  # one line
        if problem != "ok":
            raise StoreError(
                f"{self.path}: the run store is damaged (quick_check: {problem}); harness leaves it untouched "
                f"and records nothing until it is recovered; {recovery(self.path)}"
            )
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        schema = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() if "meta" in tables else None
        if schema is None:
            raise StoreError(
                f"{self.path}: a SQLite database but not a harness run store (no meta.schema; tables: "
                f"{', '.join(sorted(tables)) or 'none'}); harness leaves it untouched: set state_dir in "
                "harness.yaml to another folder, or move the file aside"
            )

    def _schema(self) -> None:
        """Tables of this version (CREATE IF NOT EXISTS), then the migrations (in the caller's transaction)."""
        for statement in filter(str.strip, SCHEMA.split(";")):
            self.db.execute(statement)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        else:
            self._migrate(int(row[0]))

    def _record_orphans(self, runs_root: Path) -> None:
        """Record as interrupted the run folders beside the store that no living harness will
        record (killed with -9, or stopped by an error it could not record): history has no holes."""
        if not runs_root.is_dir():
            return
        recorded = {row[0] for row in self.db.execute("SELECT run_id FROM runs")}
        for orphan in orphans(runs_root, recorded):
            try:
                with self.transaction():  # OR IGNORE: its owner may have recorded it since `recorded` was read
                    row = orphan_row(orphan)
                    self.db.execute(f"INSERT OR IGNORE INTO runs ({RUN_COLUMNS}) VALUES ({RUN_SLOTS})", row)
            except sqlite3.Error as exc:
                # A full disk or a read-only store: a later opening records it; reading must still work.
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY):
                    raise
                return

    def _enable_wal(self, wait_s: float = 30.0) -> None:
        """WAL mode, set once per file. Switching needs an exclusive lock and SQLite does not
        wait for it through the busy timeout: several writers opening a new store at once (the
        threads of parallel probes) got "database is locked". Once the file is in WAL mode,
        reading the mode takes no lock; until then, retry for a bounded time."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if str(self.db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self, version: int) -> None:
        """Bring an older store up to SCHEMA_VERSION (in the caller's transaction); refuse a newer one."""
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema {version}, this harness reads {SCHEMA_VERSION}: upgrade harness"
            )
        for step in range(version, SCHEMA_VERSION):
            migration = MIGRATIONS[step]
            if callable(migration):
                migration(self.db)
                continue
            for statement in migration:
                self.db.execute(statement)
        if version != SCHEMA_VERSION:
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    @guarded("making a backup")
    def backup(self, target: Path) -> None:
        """A consistent copy of the store (SQLite's online backup), safe while others write."""
        if target.exists():
            raise StoreError(f"{target} exists: give a new file for the backup")
        copy = sqlite3.connect(target)
        try:
            self.db.backup(copy)
        finally:
            copy.close()

    @guarded("reading the state id")
    def state_id(self) -> str:
        """This state's id, made once and kept in `meta`: every image and container harness
        creates is labelled with it, so tags and `gc` of one state never touch another's."""
        row = self.db.execute("SELECT value FROM meta WHERE key='state_id'").fetchone()
        if row is None:
            with self.transaction():  # two first processes at once: the first insert wins
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('state_id', ?)", (secrets.token_hex(6),))
                row = self.db.execute("SELECT value FROM meta WHERE key='state_id'").fetchone()
        return str(row[0])

    @guarded("checking integrity")
    def integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def state_of(state_dir: Path) -> str:
    """The state id of the store in `state_dir` (for code that holds no store open)."""
    store = Store(state_dir / "state.db")
    try:
        return store.state_id()
    finally:
        store.close()

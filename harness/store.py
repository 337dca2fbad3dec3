"""The run store: SQLite in WAL mode, full synchronous writes, one transaction per write.

Holds every run record and the pointers (`last-good`, later `production`) as image ids:
tags are derived from the store, never the other way round.

Never silently lost: only a missing store is created (in a staging file, linked into place
whole, so a store is never seen half made); an existing file that is empty, not SQLite, not
a harness store or fails `PRAGMA quick_check` is refused untouched (exit 125) with how to
recover. Every sqlite3 error becomes a StoreError naming the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from harness.errors import StoreError, UsageError
from harness.model import (
    CaseResult,
    Pointer,
    RecordLevel,
    Release,
    RunRecord,
    Verdict,
    VideoFacts,
    as_record_level,
    as_release_action,
)
from harness.runfolder import Orphan, orphans

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

SCHEMA_VERSION = 4
STORE_NAME = "state.db"  # <state_dir>/state.db, beside <state_dir>/runs
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, image_id TEXT NOT NULL,
  image_tag TEXT NOT NULL, deps_key TEXT NOT NULL, suite TEXT NOT NULL,
  suite_hash TEXT NOT NULL, level TEXT NOT NULL, verdict TEXT NOT NULL, summary TEXT NOT NULL,
  started TEXT NOT NULL, build_seconds REAL NOT NULL, run_seconds REAL NOT NULL,
  run_dir TEXT NOT NULL, cases TEXT NOT NULL, contract_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_commit ON runs (commit_sha, suite_hash, level);
CREATE TABLE IF NOT EXISTS releases (
  revision INTEGER PRIMARY KEY, action TEXT NOT NULL, image_id TEXT NOT NULL,
  commit_sha TEXT NOT NULL, from_image_id TEXT NOT NULL, run_id TEXT NOT NULL,
  created TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
  based_on INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS unreachable (commit_sha TEXT PRIMARY KEY, seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pointers (
  name TEXT PRIMARY KEY, image_id TEXT NOT NULL, commit_sha TEXT NOT NULL,
  run_id TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bisects (
  id TEXT PRIMARY KEY, good TEXT NOT NULL, bad TEXT NOT NULL, level TEXT NOT NULL,
  suite_hash TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
  answer TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', case_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS bisect_steps (
  bisect_id TEXT NOT NULL, seq INTEGER NOT NULL, commit_sha TEXT NOT NULL, verdict TEXT NOT NULL,
  source TEXT NOT NULL, seconds REAL NOT NULL, run_id TEXT NOT NULL, summary TEXT NOT NULL,
  PRIMARY KEY (bisect_id, seq)
);
"""
# Columns the bisects table gained while bisect_log.py kept it outside the schema version.
_BISECT_ADDED = (("reason", "TEXT NOT NULL DEFAULT ''"), ("case_id", "TEXT NOT NULL DEFAULT ''"))


def _bisects_under_the_version(db: sqlite3.Connection) -> None:
    """v4: the bisect tables, which bisect_log.py made on first use and widened by itself, are
    the store's. A v3 store may hold them in any of their shapes, or not at all: the tables of
    this version were made just before (CREATE IF NOT EXISTS); only missing columns are added."""
    have = {row[1] for row in db.execute("PRAGMA table_info(bisects)")}
    for name, kind in _BISECT_ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE bisects ADD COLUMN {name} {kind}")


# Each step takes the store from version n to n + 1, inside the opening transaction.
_MIGRATIONS: dict[int, tuple[str, ...] | Callable[[sqlite3.Connection], None]] = {
    # v2: the contract digest that judged a run. Older rows get '' (unknown): they never vouch.
    1: ("ALTER TABLE runs ADD COLUMN contract_hash TEXT NOT NULL DEFAULT ''",),
    # v3: run folders carry an owner lock (runfolder.py) and a folder without a record whose
    # lock is free is recorded as interrupted. No table changes: the version keeps a harness
    # from before owner locks off this store (its run folders in progress would look dead).
    2: (),
    3: _bisects_under_the_version,
}
INTERRUPTED = "interrupted: the harness process died or stopped before recording this run (run folder kept)"
INTERRUPTED_OLD = "interrupted: no record and no owner lock, left by an older harness (run folder kept)"
_RUN_FIELDS = (
    "run_id",
    "commit_sha",
    "image_id",
    "image_tag",
    "deps_key",
    "suite",
    "suite_hash",
    "contract_hash",
    "level",
    "verdict",
    "summary",
    "started",
    "build_seconds",
    "run_seconds",
    "run_dir",
    "cases",
)
_RUN_COLUMNS = ", ".join(_RUN_FIELDS)
_RUN_SLOTS = ", ".join("?" for _ in _RUN_FIELDS)


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


def _explain(path: Path, what: str, exc: sqlite3.Error) -> str:
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
                raise StoreError(_explain(_store_path(self), what, exc)) from exc

        return inner

    return wrap


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # read-only place, a file in the way: the config's to fix (exit 128)
            why = f"cannot create the state folder {path.parent}: {exc.strerror}"
            raise UsageError(f"{why}; set state_dir in harness.yaml to a folder harness may write") from exc
        try:
            if not os.path.lexists(path):
                _create(path)
            _refuse_empty(path)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(_explain(path, "cannot open the run store", exc)) from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the run store: {exc.strerror}") from exc
        try:
            self._check()
            self._enable_wal()
            self.db.execute("PRAGMA synchronous=FULL")
            with self.transaction():
                self._schema()
            if path.name == STORE_NAME:  # a state folder's store, not a backup copy somewhere
                self._record_orphans(path.parent / "runs")
        except (sqlite3.Error, StoreError) as exc:
            self.db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(_explain(path, "cannot open the run store", exc)) from exc

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
        for statement in filter(str.strip, _SCHEMA.split(";")):
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
                    row = _orphan_row(orphan)
                    self.db.execute(f"INSERT OR IGNORE INTO runs ({_RUN_COLUMNS}) VALUES ({_RUN_SLOTS})", row)
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
            migration = _MIGRATIONS[step]
            if callable(migration):
                migration(self.db)
                continue
            for statement in migration:
                self.db.execute(statement)
        if version != SCHEMA_VERSION:
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")  # may fail too (disk full): rolled back below, never left open
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL does)
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise

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

    def add_run(
        self,
        record: RunRecord,
        *,
        move_pointer: str | None = None,
        is_ancestor: Callable[[str, str], bool] | None = None,
    ) -> bool:
        """Record a run and, in the same transaction, move a pointer to its image. Whether it moved.

        With `is_ancestor(old_sha, new_sha)` the move is a compare-and-set: the pointer is read
        inside the write transaction and moves only forward (unset, the same commit, or a
        descendant), so concurrent writers cannot move it back between check and write.
        Without it the pointer moves unconditionally.
        """
        try:
            with self.transaction():
                self.db.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({_RUN_SLOTS})", _run_row(record))
                if not move_pointer:
                    return False
                current = self.pointer(move_pointer)
                if (
                    current is not None
                    and is_ancestor is not None
                    and current.commit != record.commit
                    and not is_ancestor(current.commit, record.commit)
                ):
                    return False
                self.db.execute(
                    "INSERT OR REPLACE INTO pointers VALUES (?,?,?,?,?)",
                    (move_pointer, record.image_id, record.commit, record.run_id, record.started),
                )
                return True
        except sqlite3.Error as exc:
            what = f"could not record run {record.run_id} ({record.verdict.value}: {record.summary})"
            kept = f"; its folder {record.run_dir} is kept" if record.run_dir else ""
            raise StoreError(_explain(self.path, what, exc) + kept) from exc

    def add_release(self, release: Release) -> Release:
        """Append a release; its revision is assigned inside the single-writer transaction.

        `release.revision` and, for a promotion, `based_on` are ignored and filled in here,
        as is `from_image_id` (the production image before this release).
        """
        try:
            with self.transaction():
                row = self.db.execute(
                    "SELECT revision, image_id FROM releases ORDER BY revision DESC LIMIT 1"
                ).fetchone()
                revision = (row[0] if row else 0) + 1
                based_on = revision if release.action == "promote" else release.based_on
                stored = dataclasses.replace(
                    release, revision=revision, based_on=based_on, from_image_id=row[1] if row else ""
                )
                self.db.execute(
                    "INSERT INTO releases VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        stored.revision,
                        stored.action,
                        stored.image_id,
                        stored.commit,
                        stored.from_image_id,
                        stored.run_id,
                        stored.created,
                        stored.user,
                        stored.reason,
                        int(stored.forced),
                        stored.based_on,
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, "could not record the release", exc)) from exc
        return stored

    @guarded("reading the releases")
    def releases(self) -> list[Release]:
        """Production history, oldest first."""
        rows = self.db.execute("SELECT * FROM releases ORDER BY revision").fetchall()
        return [_release(r) for r in rows]

    def production(self) -> Release | None:
        releases = self.releases()
        return releases[-1] if releases else None

    @guarded("reading runs")
    def runs_for_image(self, image_id: str) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE image_id=? ORDER BY started DESC, rowid DESC", (image_id,)
        )
        return [_record(row) for row in rows]

    @guarded("reading runs")
    def evidence(self, image_id: str, commit: str) -> list[RunRecord]:
        """What may vouch for an image: its runs and its commit's contract checks, newest first."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE image_id=? OR (commit_sha=? AND level='contract') "
            "ORDER BY started DESC, rowid DESC",
            (image_id, commit),
        )
        return [_record(row) for row in rows]

    @guarded("reading runs")
    def runs_for_commit(self, sha: str) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE commit_sha=? ORDER BY started DESC, rowid DESC", (sha,)
        )
        return [_record(row) for row in rows]

    @guarded("recording reachability")
    def mark_reachability(self, sha: str, reachable: bool, seen: str) -> None:
        """Runs of commits upstream no longer has (force-pushed away) are kept and marked."""
        with self.transaction():
            if reachable:
                self.db.execute("DELETE FROM unreachable WHERE commit_sha=?", (sha,))
            else:
                self.db.execute("INSERT OR IGNORE INTO unreachable VALUES (?, ?)", (sha, seen))

    @guarded("reading reachability")
    def unreachable(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT commit_sha FROM unreachable")}

    @guarded("reading runs")
    def commits(self) -> set[str]:
        # '' is a run recorded without a known commit (an interrupted run of an older harness)
        return {row[0] for row in self.db.execute("SELECT DISTINCT commit_sha FROM runs WHERE commit_sha != ''")}

    @guarded("reading a pointer")
    def pointer(self, name: str) -> Pointer | None:
        row = self.db.execute("SELECT * FROM pointers WHERE name=?", (name,)).fetchone()
        return Pointer(name=row[0], image_id=row[1], commit=row[2], run_id=row[3], updated=row[4]) if row else None

    @guarded("reading runs")
    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started DESC, rowid DESC LIMIT ?", (limit,))
        return [_record(row) for row in rows]

    @guarded("reading a run")
    def run(self, run_id: str) -> RunRecord | None:
        """A run by id, or by a unique prefix of it."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id", (len(run_id), run_id)
        ).fetchall()
        return _record(rows[0]) if len(rows) == 1 else None


def _orphan_row(orphan: Orphan) -> tuple[object, ...]:
    facts = orphan.facts
    stamp = orphan.run_id[:15]  # the run id starts with its UTC start time
    started = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}+00:00"
    record = RunRecord(
        run_id=orphan.run_id,
        commit=facts.get("commit", ""),
        image_id="",
        image_tag="",
        deps_key="",
        suite=facts.get("suite", ""),
        suite_hash=facts.get("suite_hash", ""),
        contract_hash="",  # unknown: an interrupted run vouches for nothing (a bisect re-tests it, never skips it)
        level=_known_level(facts.get("level", "")),
        verdict=Verdict.ERROR,
        summary=INTERRUPTED if facts else INTERRUPTED_OLD,
        started=facts.get("started", started),
        build_seconds=0.0,
        run_seconds=0.0,
        run_dir=str(orphan.run_dir),
        cases=(),
    )
    return _run_row(record)


def _release(r: tuple[object, ...]) -> Release:
    try:
        action = as_release_action(str(r[1]))
    except ValueError as exc:  # a row SQLite kept but harness cannot read
        why = f"release {r[0]!r}: a stored release cannot be read ({exc}); the store may be damaged"
        raise StoreError(why) from exc
    return Release(
        revision=int(str(r[0])),
        action=action,
        image_id=str(r[2]),
        commit=str(r[3]),
        from_image_id=str(r[4]),
        run_id=str(r[5]),
        created=str(r[6]),
        user=str(r[7]),
        reason=str(r[8]),
        forced=bool(r[9]),
        based_on=int(str(r[10])),
    )


def _known_level(value: str) -> RecordLevel:
    """A run folder's level as written by its harness; unknown ("") if it says anything else."""
    try:
        return as_record_level(value)
    except ValueError:
        return ""


def _create(path: Path) -> None:
    """A new store, made whole in a staging file and linked into place: a store file that
    exists is never one harness was still making (a kill -9 leaves only the staging file),
    so an empty or foreign file at `path` always means damage, never a store being born."""
    staging = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        db = sqlite3.connect(staging, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
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


def _refuse_empty(path: Path) -> None:
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


def _case(raw: dict[str, object]) -> CaseResult:
    video = raw.get("video")
    fields = {k: v for k, v in raw.items() if k not in ("verdict", "video", "reasons", "notes")}
    return CaseResult(
        **fields,  # type: ignore[arg-type]
        verdict=Verdict(raw["verdict"]),
        reasons=tuple(raw.get("reasons") or ()),  # type: ignore[arg-type]
        notes=tuple(raw.get("notes") or ()),  # type: ignore[arg-type]
        video=VideoFacts(**video) if isinstance(video, dict) else None,
    )


def _run_row(record: RunRecord) -> tuple[object, ...]:
    """`record` as a runs row, in _RUN_FIELDS order."""
    cases = json.dumps([dataclasses.asdict(c) | {"verdict": c.verdict.value} for c in record.cases])
    return (
        record.run_id,
        record.commit,
        record.image_id,
        record.image_tag,
        record.deps_key,
        record.suite,
        record.suite_hash,
        record.contract_hash,
        record.level,
        record.verdict.value,
        record.summary,
        record.started,
        record.build_seconds,
        record.run_seconds,
        record.run_dir,
        cases,
    )


def _record(row: tuple[object, ...]) -> RunRecord:
    try:
        return _decode(row)
    except (ValueError, TypeError, KeyError) as exc:  # a row SQLite kept but harness cannot read
        raise StoreError(f"run {row[0]!r}: a stored record cannot be read ({exc}); the store may be damaged") from exc


def _decode(row: tuple[object, ...]) -> RunRecord:
    (
        run_id,
        commit,
        image_id,
        image_tag,
        deps_key,
        suite,
        suite_hash,
        contract_hash,
        level,
        verdict,
        summary,
        started,
        build_s,
        run_s,
        run_dir,
        cases,
    ) = row
    return RunRecord(
        run_id=str(run_id),
        commit=str(commit),
        image_id=str(image_id),
        image_tag=str(image_tag),
        deps_key=str(deps_key),
        suite=str(suite),
        suite_hash=str(suite_hash),
        contract_hash=str(contract_hash),
        level=as_record_level(str(level)),
        verdict=Verdict(verdict),
        summary=str(summary),
        started=str(started),
        build_seconds=float(str(build_s)),
        run_seconds=float(str(run_s)),
        run_dir=str(run_dir),
        cases=tuple(_case(c) for c in json.loads(str(cases))),
    )


def state_of(state_dir: Path) -> str:
    """The state id of the store in `state_dir` (for code that holds no store open)."""
    store = Store(state_dir / "state.db")
    try:
        return store.state_id()
    finally:
        store.close()

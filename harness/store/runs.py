"""The store's run role: run records, the pointers that follow them, reachability (ports.RunStore)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from harness.errors import StoreError
from harness.model import Pointer, RunRecord
from harness.store.connection import Connection
from harness.store.guard import explain, guarded
from harness.store.rows import RUN_COLUMNS, RUN_SLOTS, decode_run, run_row


class RunsRole(Connection):
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
                self.db.execute(f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({RUN_SLOTS})", run_row(record))
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
            raise StoreError(explain(self.path, what, exc) + kept) from exc

    @guarded("reading runs")
    def runs_for_image(self, image_id: str) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE image_id=? ORDER BY started DESC, rowid DESC", (image_id,)
        )
        return [decode_run(row) for row in rows]

    @guarded("reading runs")
    def evidence(self, image_id: str, commit: str) -> list[RunRecord]:
        """What may vouch for an image: its runs and its commit's contract checks, newest first."""
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE image_id=? OR (commit_sha=? AND level='contract') "
            "ORDER BY started DESC, rowid DESC",
            (image_id, commit),
        )
        return [decode_run(row) for row in rows]

    @guarded("reading runs")
    def runs_for_commit(self, sha: str) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE commit_sha=? ORDER BY started DESC, rowid DESC", (sha,)
        )
        return [decode_run(row) for row in rows]

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
        rows = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY started DESC, rowid DESC LIMIT ?", (limit,))
        return [decode_run(row) for row in rows]

    @guarded("reading a run")
    def run(self, run_id: str) -> RunRecord | None:
        """A run by id, or by a unique prefix of it."""
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id", (len(run_id), run_id)
        ).fetchall()
        return decode_run(rows[0]) if len(rows) == 1 else None

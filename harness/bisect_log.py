"""Bisect sessions in the run store: parameters for --resume, steps for --log."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass

from harness.errors import StoreError
from harness.model import Verdict
from harness.store import Store, guarded

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bisects (
      id TEXT PRIMARY KEY, good TEXT NOT NULL, bad TEXT NOT NULL, level TEXT NOT NULL,
      suite_hash TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
      answer TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS bisect_steps (
      bisect_id TEXT NOT NULL, seq INTEGER NOT NULL, commit_sha TEXT NOT NULL, verdict TEXT NOT NULL,
      source TEXT NOT NULL, seconds REAL NOT NULL, run_id TEXT NOT NULL, summary TEXT NOT NULL,
      PRIMARY KEY (bisect_id, seq))""",
)
# Columns added after the first release of the table (not under the run store's schema version).
_ADDED_COLUMNS = (("reason", "TEXT NOT NULL DEFAULT ''"), ("case_id", "TEXT NOT NULL DEFAULT ''"))


@dataclass(frozen=True, kw_only=True)
class Session:
    id: str
    good: str
    bad: str
    level: str
    suite_hash: str
    started: str
    finished: str
    answer: dict[str, object]
    reason: str = ""  # --reason: only failures matching it count as bad
    case: str = ""  # --case: only this case's failure counts


@dataclass(frozen=True, kw_only=True)
class Step:
    commit: str
    verdict: Verdict
    source: str  # reused (a recorded run) | fresh (tested now)
    seconds: float
    run_id: str
    summary: str


class BisectLog:
    @guarded("preparing the bisect tables")
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction():
            for statement in _SCHEMA:
                store.db.execute(statement)
            have = {row[1] for row in store.db.execute("PRAGMA table_info(bisects)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in have:
                    store.db.execute(f"ALTER TABLE bisects ADD COLUMN {name} {kind}")

    @guarded("recording a bisect session")
    def start(self, session: Session) -> None:
        with self.store.transaction():
            self.store.db.execute(
                "INSERT OR IGNORE INTO bisects (id, good, bad, level, suite_hash, started, reason, case_id) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    session.id,
                    session.good,
                    session.bad,
                    session.level,
                    session.suite_hash,
                    session.started,
                    session.reason,
                    session.case,
                ),
            )

    def add_step(self, bisect_id: str, step: Step) -> None:
        try:
            with self.store.transaction():
                (seq,) = self.store.db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM bisect_steps WHERE bisect_id=?", (bisect_id,)
                ).fetchone()
                self.store.db.execute(
                    "INSERT INTO bisect_steps VALUES (?,?,?,?,?,?,?,?)",
                    (
                        bisect_id,
                        seq,
                        step.commit,
                        step.verdict.value,
                        step.source,
                        step.seconds,
                        step.run_id,
                        step.summary,
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.store.path}: could not record a bisect step: {exc}") from exc

    @guarded("recording the bisect answer")
    def finish(self, bisect_id: str, finished: str, answer: dict[str, object]) -> None:
        with self.store.transaction():
            self.store.db.execute(
                "UPDATE bisects SET finished=?, answer=? WHERE id=?", (finished, json.dumps(answer), bisect_id)
            )

    @guarded("reading bisect sessions")
    def sessions(self) -> list[Session]:
        rows = self.store.db.execute(
            "SELECT id, good, bad, level, suite_hash, started, finished, answer, reason, case_id FROM bisects "
            "ORDER BY started DESC, id DESC"
        ).fetchall()
        return [
            Session(
                id=r[0],
                good=r[1],
                bad=r[2],
                level=r[3],
                suite_hash=r[4],
                started=r[5],
                finished=r[6],
                answer=json.loads(r[7]) if r[7] else {},
                reason=r[8],
                case=r[9],
            )
            for r in rows
        ]

    @guarded("reading bisect steps")
    def steps(self, bisect_id: str) -> list[Step]:
        rows = self.store.db.execute(
            "SELECT commit_sha, verdict, source, seconds, run_id, summary FROM bisect_steps "
            "WHERE bisect_id=? ORDER BY seq",
            (bisect_id,),
        )
        return [
            Step(commit=r[0], verdict=Verdict(r[1]), source=r[2], seconds=r[3], run_id=r[4], summary=r[5]) for r in rows
        ]


def step_dict(step: Step) -> dict[str, object]:
    return asdict(step) | {"verdict": step.verdict.value}

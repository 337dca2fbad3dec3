"""Bisect sessions in the run store: parameters for --resume, steps for --log.

The tables are the store's (harness/store/schema.py, version 4 and later); this is their reading
and writing, over the store's connection and transactions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

from harness.errors import StoreError
from harness.model import BisectSession, BisectStep, Verdict, as_level, as_side, as_step_source
from harness.store import Store, guarded

T = TypeVar("T")


class BisectLog:
    """The bisect role of the run store (ports.BisectRecords)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @guarded("recording a bisect session")
    def start(self, session: BisectSession) -> None:
        with self.store.transaction():
            self.store.db.execute(
                "INSERT OR IGNORE INTO bisects (id, good, bad, level, suite_hash, started, reason, case_id, "
                "side, fixed) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    session.id,
                    session.good,
                    session.bad,
                    session.level,
                    session.suite_hash,
                    session.started,
                    session.reason,
                    session.case,
                    session.side,
                    session.fixed,
                ),
            )

    def add_step(self, bisect_id: str, step: BisectStep) -> None:
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
    def sessions(self) -> list[BisectSession]:
        rows = self.store.db.execute(
            "SELECT id, good, bad, level, suite_hash, started, finished, answer, reason, case_id, side, fixed "
            "FROM bisects "
            "ORDER BY started DESC, id DESC"
        ).fetchall()
        return [_decoded(f"bisect {r[0]!r}", _session, r) for r in rows]

    @guarded("reading bisect steps")
    def steps(self, bisect_id: str) -> list[BisectStep]:
        rows = self.store.db.execute(
            "SELECT commit_sha, verdict, source, seconds, run_id, summary FROM bisect_steps "
            "WHERE bisect_id=? ORDER BY seq",
            (bisect_id,),
        )
        return [_decoded(f"a step of bisect {bisect_id!r}", _step, r) for r in rows]


def _decoded(what: str, decode: Callable[[tuple[object, ...]], T], row: tuple[object, ...]) -> T:
    try:
        return decode(row)
    except (ValueError, TypeError) as exc:  # a row SQLite kept but harness cannot read
        raise StoreError(f"{what}: a stored row cannot be read ({exc}); the store may be damaged") from exc


def _session(r: tuple[object, ...]) -> BisectSession:
    return BisectSession(
        id=str(r[0]),
        good=str(r[1]),
        bad=str(r[2]),
        level=as_level(str(r[3])),
        suite_hash=str(r[4]),
        started=str(r[5]),
        finished=str(r[6]),
        answer=json.loads(str(r[7])) if r[7] else {},
        reason=str(r[8]),
        case=str(r[9]),
        side=as_side(str(r[10])),
        fixed=str(r[11]),
    )


def _step(r: tuple[object, ...]) -> BisectStep:
    return BisectStep(
        commit=str(r[0]),
        verdict=Verdict(r[1]),
        source=as_step_source(str(r[2])),
        seconds=float(str(r[3])),
        run_id=str(r[4]),
        summary=str(r[5]),
    )


def step_dict(step: BisectStep) -> dict[str, object]:
    return asdict(step) | {"verdict": step.verdict.value}

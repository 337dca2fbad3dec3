"""The store's watch role: the watcher's state (one JSON document, rewritten whole per step), its
heartbeat, and the outbox of events (ports.Outbox), one row per event key.

The state is a document rather than tables because it is small (a head, a queue, the step in
progress, a few times) and must change atomically: a kill -9 leaves the previous or the next
state, never half of one.
"""

from __future__ import annotations

import dataclasses
import json

from harness.errors import StoreError
from harness.events import EVENT_KINDS, Event, StoredEvent
from harness.store.connection import Connection
from harness.store.guard import guarded

_STATE, _HEARTBEAT = "state", "heartbeat"


class WatchRole(Connection):
    @guarded("reading the watch state")
    def watch_state(self) -> dict[str, object]:
        row = self.db.execute("SELECT value FROM watch WHERE key=?", (_STATE,)).fetchone()
        doc = json.loads(row[0]) if row else {}
        if not isinstance(doc, dict):
            raise StoreError(f"{self.path}: the watch state is not a JSON object: {row[0][:80]!r}")
        return doc

    @guarded("writing the watch state")
    def save_watch_state(self, doc: dict[str, object]) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO watch VALUES (?, ?)", (_STATE, json.dumps(doc, sort_keys=True)))

    @guarded("writing the watch heartbeat")
    def beat(self, doc: dict[str, object]) -> None:
        """Who watches and when it was last alive (pid, host, time, what it does now)."""
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO watch VALUES (?, ?)", (_HEARTBEAT, json.dumps(doc, sort_keys=True)))

    @guarded("reading the watch heartbeat")
    def heartbeat(self) -> dict[str, object]:
        row = self.db.execute("SELECT value FROM watch WHERE key=?", (_HEARTBEAT,)).fetchone()
        doc = json.loads(row[0]) if row else {}
        return doc if isinstance(doc, dict) else {}

    @guarded("recording an event")
    def add_event(self, event: Event) -> bool:
        """Queue the event for delivery; False when its key was recorded before (never twice)."""
        body = json.dumps(dataclasses.asdict(event), sort_keys=True)
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO watch_events (key, kind, created, body) VALUES (?,?,?,?)",
                (event.key, event.kind, event.created, body),
            )
        return cursor.rowcount == 1

    @guarded("reading events")
    def pending_events(self) -> list[StoredEvent]:
        rows = self.db.execute(
            "SELECT seq, body, sent_to, attempts, last_error FROM watch_events WHERE done='' ORDER BY seq"
        ).fetchall()
        return [_stored(row) for row in rows]

    @guarded("reading events")
    def events(self, limit: int = 50) -> list[StoredEvent]:
        """The newest events first, delivered or not."""
        rows = self.db.execute(
            "SELECT seq, body, sent_to, attempts, last_error FROM watch_events ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_stored(row) for row in rows]

    @guarded("recording a delivery")
    def mark_sent(self, seq: int, receiver: str) -> None:
        with self.transaction():
            row = self.db.execute("SELECT sent_to FROM watch_events WHERE seq=?", (seq,)).fetchone()
            if row is None:
                return
            sent = sorted({*json.loads(row[0]), receiver})
            self.db.execute("UPDATE watch_events SET sent_to=? WHERE seq=?", (json.dumps(sent), seq))

    @guarded("recording a delivery")
    def mark_attempt(self, seq: int, error: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE watch_events SET attempts=attempts+1, last_error=? WHERE seq=?", (error, seq))

    @guarded("recording a delivery")
    def mark_delivered(self, seq: int) -> None:
        """Every receiver has the event: it leaves the outbox."""
        with self.transaction():
            self.db.execute("UPDATE watch_events SET done='sent' WHERE seq=?", (seq,))

    @guarded("recording a delivery")
    def give_up(self, seq: int, error: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE watch_events SET done='given up', last_error=? WHERE seq=?", (error, seq))


def _stored(row: tuple[int, str, str, int, str]) -> StoredEvent:
    seq, body, sent_to, attempts, last_error = row
    doc = json.loads(body)
    if doc.get("kind") not in EVENT_KINDS:
        raise StoreError(f"event {seq}: kind {doc.get('kind')!r} is not one of {', '.join(EVENT_KINDS)}")
    return StoredEvent(
        seq=seq, event=Event(**doc), sent_to=tuple(json.loads(sent_to)), attempts=attempts, last_error=last_error
    )

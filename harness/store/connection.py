"""The connection every role of the store shares, and its one kind of write transaction."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Connection:
    path: Path
    db: sqlite3.Connection

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

"""The store's release role: production's history, appended, never changed (ports.ReleaseStore)."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import assert_never

from harness.errors import StoreError
from harness.model import Release
from harness.store.connection import Connection
from harness.store.guard import explain, guarded
from harness.store.rows import decode_release


class ReleasesRole(Connection):
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
                match release.action:
                    case "promote":
                        based_on = revision  # a promotion is its own base
                    case "rollback" | "auto-rollback":
                        based_on = release.based_on  # the promotion whose image it puts back
                    case _:
                        assert_never(release.action)
                stored = dataclasses.replace(
                    release, revision=revision, based_on=based_on, from_image_id=row[1] if row else ""
                )
                self.db.execute(
                    "INSERT INTO releases VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                        stored.image_digest,
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(explain(self.path, "could not record the release", exc)) from exc
        return stored

    @guarded("recording a release's digest")
    def set_image_digest(self, revision: int, digest: str) -> None:
        """The registry digest `revision`'s deploy rolled the fleet's service to.

        The one thing a release gains after it is written: the move is recorded before its deploy
        (the store leads, ops/promote.py), and the digest exists only once the deploy pushed the
        image. It names the image the release already names, so the decision stays as recorded.
        """
        with self.transaction():
            self.db.execute("UPDATE releases SET image_digest=? WHERE revision=?", (digest, revision))

    @guarded("reading the releases")
    def releases(self) -> list[Release]:
        """Production history, oldest first."""
        rows = self.db.execute("SELECT * FROM releases ORDER BY revision").fetchall()
        return [decode_release(r) for r in rows]

    def production(self) -> Release | None:
        releases = self.releases()
        return releases[-1] if releases else None

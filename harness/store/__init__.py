"""The run store (SQLite), split by role: opening and checking (core), schema and migrations,
rows, runs and pointers, releases; bisect sessions are bisect_log.py's, over the same store."""

from __future__ import annotations

from harness.store.core import Store, state_of
from harness.store.guard import guarded, recovery
from harness.store.rows import INTERRUPTED, INTERRUPTED_OLD
from harness.store.schema import SCHEMA_VERSION, STORE_NAME

__all__ = ["INTERRUPTED", "INTERRUPTED_OLD", "SCHEMA_VERSION", "STORE_NAME", "Store", "guarded", "recovery", "state_of"]

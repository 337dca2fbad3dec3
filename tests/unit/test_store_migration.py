"""The bisect tables under the store's schema version (v4), migrated from the v3 stores in use.

Before v4, bisect_log.py made its tables on first use and widened them by itself: a v3 store
holds them in their latest shape, in their first shape (no reason, no case_id), or not at all.
The v3 schema below is the v3 code's, written out here so that changing the code cannot
change what the test migrates from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bisect_log import BisectLog
from harness.errors import EXIT_SKIP, StoreError
from harness.model import BisectSession, BisectStep, Verdict
from harness.store import SCHEMA_VERSION, Store

V3_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, image_id TEXT NOT NULL,
  image_tag TEXT NOT NULL, deps_key TEXT NOT NULL, suite TEXT NOT NULL,
  suite_hash TEXT NOT NULL, level TEXT NOT NULL, verdict TEXT NOT NULL, summary TEXT NOT NULL,
  started TEXT NOT NULL, build_seconds REAL NOT NULL, run_seconds REAL NOT NULL,
  run_dir TEXT NOT NULL, cases TEXT NOT NULL, contract_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_commit ON runs (commit_sha, suite_hash, level);
CREATE TABLE releases (
  revision INTEGER PRIMARY KEY, action TEXT NOT NULL, image_id TEXT NOT NULL,
  commit_sha TEXT NOT NULL, from_image_id TEXT NOT NULL, run_id TEXT NOT NULL,
  created TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
  based_on INTEGER NOT NULL
);
CREATE TABLE unreachable (commit_sha TEXT PRIMARY KEY, seen TEXT NOT NULL);
CREATE TABLE pointers (
  name TEXT PRIMARY KEY, image_id TEXT NOT NULL, commit_sha TEXT NOT NULL,
  run_id TEXT NOT NULL, updated TEXT NOT NULL
);
INSERT INTO meta VALUES ('schema', '3');
INSERT INTO meta VALUES ('state_id', '0123456789ab');
INSERT INTO runs VALUES (
  '20250101-000000-aaaaaa', '{good}', 'sha256:{img1}', 'harness/x:{good12}', 'dk', 'baseline', 'sh16', 'baseline',
  'pass', '2/2', '2025-01-01T00:00:00+00:00', 12.5, 30.25, '/s/runs/20250101-000000-aaaaaa',
  '[{{"case_id": "t2v", "model": "t2v_tiny", "runner_status": "success", "verdict": "pass", "reasons": [],
     "output_path": "/o/t2v.mp4", "generation_time": 1.5, "error": "", "video": null, "gpu_peak_mib": 900.0,
     "gpu_util_mean": 50.0, "gpu_leak_mib": 0.0, "drift_psnr": null, "notes": []}}]', 'ch16'
);
INSERT INTO runs VALUES (
  '20250101-000100-bbbbbb', '{bad}', 'sha256:{img2}', 'harness/x:{bad12}', 'dk', 'baseline', 'sh16', 'smoke',
  'fail', 'smoke failed', '2025-01-01T00:01:00+00:00', 1.0, 2.0, '/s/runs/20250101-000100-bbbbbb', '[]', 'ch16'
);
INSERT INTO runs VALUES (
  '20250101-000200-cccccc', '', '', '', '', '', '', '', 'error',
  'interrupted: no record and no owner lock, left by an older harness (run folder kept)',
  '2025-01-01T00:02:00+00:00', 0.0, 0.0, '/s/runs/20250101-000200-cccccc', '[]', ''
);
INSERT INTO pointers VALUES (
  'last-good', 'sha256:{img1}', '{good}', '20250101-000000-aaaaaa', '2025-01-01T00:00:00+00:00'
);
INSERT INTO releases VALUES (
  1, 'promote', 'sha256:{img1}', '{good}', '', '20250101-000000-aaaaaa', 't1', 'u', 'first', 0, 1
);
INSERT INTO releases VALUES (
  2, 'promote', 'sha256:{img2}', '{bad}', 'sha256:{img1}', '', 't2', 'u', 'x [forced past: y]', 1, 2
);
INSERT INTO releases VALUES (
  3, 'auto-rollback', 'sha256:{img1}', '{good}', 'sha256:{img2}', '', 't3', 'u', 'unhealthy', 0, 1
);
INSERT INTO unreachable VALUES ('{gone}', '2025-01-02T00:00:00+00:00');
""".format(good="a" * 40, bad="b" * 40, gone="c" * 40, good12="a" * 12, bad12="b" * 12, img1="1" * 64, img2="2" * 64)

# bisect_log.py's tables as it first made them, and the columns it added later by itself.
BISECTS_FIRST_SHAPE = """
CREATE TABLE bisects (
      id TEXT PRIMARY KEY, good TEXT NOT NULL, bad TEXT NOT NULL, level TEXT NOT NULL,
      suite_hash TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
      answer TEXT NOT NULL DEFAULT '');
CREATE TABLE bisect_steps (
      bisect_id TEXT NOT NULL, seq INTEGER NOT NULL, commit_sha TEXT NOT NULL, verdict TEXT NOT NULL,
      source TEXT NOT NULL, seconds REAL NOT NULL, run_id TEXT NOT NULL, summary TEXT NOT NULL,
      PRIMARY KEY (bisect_id, seq));
INSERT INTO bisects (id, good, bad, level, suite_hash, started, finished, answer) VALUES
  ('b20250101-000000-aaaaaa', '{good}', '{bad}', 'baseline', 'sh16', '2025-01-01T00:00:00+00:00',
   '2025-01-01T01:00:00+00:00', '{{"first_bad": "{bad}"}}');
INSERT INTO bisect_steps VALUES (
  'b20250101-000000-aaaaaa', 1, '{good}', 'pass', 'reused', 0.5, '20250101-000000-aaaaaa', '2/2'
);
INSERT INTO bisect_steps VALUES (
  'b20250101-000000-aaaaaa', 2, '{bad}', 'fail', 'fresh', 31.25, '20250101-000100-bbbbbb', 'smoke failed'
);
""".format(good="a" * 40, bad="b" * 40)
BISECTS_ADDED_COLUMNS = """
ALTER TABLE bisects ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE bisects ADD COLUMN case_id TEXT NOT NULL DEFAULT '';
INSERT INTO bisects VALUES ('b20250102-000000-bbbbbb', '{good}', '{bad}', 'smoke', 'sh16', '2025-01-02T00:00:00+00:00',
  '', '', 'CUDA out of memory', 't2v');
""".format(good="a" * 40, bad="b" * 40)

V3_TABLES = ("meta", "runs", "releases", "unreachable", "pointers")


def _v3_store(path: Path, bisects: str) -> dict[str, list[tuple[object, ...]]]:
    """A v3 store at `path`; returns every row of every table, as SQLite holds them."""
    with sqlite3.connect(path) as db:
        db.executescript(V3_SCHEMA + bisects)
    db.close()
    return _rows(path)


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    finally:
        db.close()


def _version(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
    finally:
        db.close()


def _without_version(rows: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    """The rows less the version, less v5's columns: runs' wrapper ('' for every old run),
    bisects' side and fixed ('upstream' and ''), less v6's watch tables (empty), less v7's
    runs' node and image digest ('' for every old run), and less v8's releases' image digest
    ('' for every old release)."""
    runs = [r[:-2] if len(r) == 19 and r[-2:] == ("", "") else r for r in rows["runs"]]
    runs = [r[:-1] if len(r) == 17 and r[-1] == "" else r for r in runs]
    releases = [r[:-1] if len(r) == 12 and r[-1] == "" else r for r in rows["releases"]]
    found = {"meta": [r for r in rows["meta"] if r[0] != "schema"], "runs": runs, "releases": releases}
    if "bisects" in rows:
        found["bisects"] = [r[:-2] if len(r) == 12 and r[-2:] == ("upstream", "") else r for r in rows["bisects"]]
    rows = {t: r for t, r in rows.items() if not (t.startswith("watch") or t == "sqlite_sequence") or r}
    return rows | found


def test_a_v3_store_with_bisects_in_their_latest_shape_keeps_every_row_at_v4(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    before = _v3_store(path, BISECTS_FIRST_SHAPE + BISECTS_ADDED_COLUMNS)
    assert len(before["runs"]) == 3 and len(before["bisect_steps"]) == 2 and len(before["bisects"]) == 2

    store = Store(path)
    try:
        assert SCHEMA_VERSION == 8
        assert _version(path) == "8"
        assert _without_version(_rows(path)) == _without_version(before)  # every row, every value
        # ... and each reads back through the code, its closed sets checked.
        assert [r.run_id for r in store.runs()] == [
            "20250101-000200-cccccc",
            "20250101-000100-bbbbbb",
            "20250101-000000-aaaaaa",
        ]
        assert [r.level for r in store.runs()] == ["", "smoke", "baseline"]
        assert store.run("20250101-000000-aaaaaa") is not None
        assert [(r.revision, r.action) for r in store.releases()] == [
            (1, "promote"),
            (2, "promote"),
            (3, "auto-rollback"),
        ]
        assert {r.image_digest for r in store.releases()} == {""}  # v8: deployed before digests were kept
        assert store.state_id() == "0123456789ab"
        assert store.unreachable() == {"c" * 40}
        log = BisectLog(store)
        sessions = log.sessions()
        assert [(s.id, s.level, s.reason, s.case) for s in sessions] == [
            ("b20250102-000000-bbbbbb", "smoke", "CUDA out of memory", "t2v"),
            ("b20250101-000000-aaaaaa", "baseline", "", ""),
        ]
        assert sessions[1].answer == {"first_bad": "b" * 40}
        assert log.steps("b20250101-000000-aaaaaa") == [
            BisectStep(
                commit="a" * 40,
                verdict=Verdict.PASS,
                source="reused",
                seconds=0.5,
                run_id="20250101-000000-aaaaaa",
                summary="2/2",
            ),
            BisectStep(
                commit="b" * 40,
                verdict=Verdict.FAIL,
                source="fresh",
                seconds=31.25,
                run_id="20250101-000100-bbbbbb",
                summary="smoke failed",
            ),
        ]
    finally:
        store.close()
    after = _rows(path)
    Store(path).close()
    assert _rows(path) == after  # opening a v4 store again migrates nothing


def test_a_v3_store_with_bisects_in_their_first_shape_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    before = _v3_store(path, BISECTS_FIRST_SHAPE)
    Store(path).close()
    after = _rows(path)
    assert _version(path) == "8"
    # v4 added reason and case_id, v5 side and fixed
    assert after["bisects"] == [(*row, "", "", "upstream", "") for row in before["bisects"]]
    after = _without_version(after)
    assert {t: after[t] for t in (*V3_TABLES, "bisect_steps") if t != "meta"} == {
        t: before[t] for t in (*V3_TABLES, "bisect_steps") if t != "meta"
    }


def test_a_v3_store_that_never_bisected_gets_the_tables_and_can_bisect(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    before = _v3_store(path, "")
    assert "bisects" not in before
    store = Store(path)
    try:
        after = _without_version(_rows(path))
        assert after["bisects"] == [] and after["bisect_steps"] == []
        assert {t: after[t] for t in V3_TABLES if t != "meta"} == {t: before[t] for t in V3_TABLES if t != "meta"}
        log = BisectLog(store)
        session = BisectSession(
            id="b1",
            good="a" * 40,
            bad="b" * 40,
            level="contract",
            suite_hash="sh",
            started="2025-02-01T00:00:00+00:00",
            finished="",
            answer={},
            reason="boom",
            case="",
        )
        log.start(session)
        assert log.sessions() == [session]
    finally:
        store.close()


def test_a_newer_store_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _v3_store(path, BISECTS_FIRST_SHAPE)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='9' WHERE key='schema'")
    db.close()
    before = _rows(path)
    with pytest.raises(StoreError, match="store schema 9, this harness reads 8: upgrade harness") as info:
        Store(path)
    assert info.value.exit_code == EXIT_SKIP
    assert _rows(path) == before  # refused untouched


@pytest.mark.parametrize(
    ("table", "column", "value", "what"),
    [
        ("runs", "level", "deep", "level 'deep' is not one of contract, smoke, baseline"),
        ("releases", "action", "demote", "release action 'demote' is not one of promote, rollback, auto-rollback"),
        ("bisects", "level", "shallow", "level 'shallow' is not one of contract, smoke, baseline"),
        ("bisect_steps", "source", "guessed", "bisect step source 'guessed' is not one of fresh, reused"),
    ],
)
def test_a_stored_value_outside_its_closed_set_is_refused_when_read(
    tmp_path: Path, table: str, column: str, value: str, what: str
) -> None:
    path = tmp_path / "state.db"
    _v3_store(path, BISECTS_FIRST_SHAPE + BISECTS_ADDED_COLUMNS)
    store = Store(path)
    try:
        store.db.execute(f"UPDATE {table} SET {column}=?", (value,))
        log = BisectLog(store)
        readers: dict[str, Callable[[], object]] = {
            "runs": store.runs,
            "releases": store.releases,
            "bisects": log.sessions,
            "bisect_steps": lambda: log.steps("b20250101-000000-aaaaaa"),
        }
        read = readers[table]
        with pytest.raises(StoreError, match=f"{what}.*the store may be damaged"):
            read()
    finally:
        store.close()

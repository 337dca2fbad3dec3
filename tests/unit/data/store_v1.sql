-- A run store written by harness at schema v1 (sqlite3 iterdump).
BEGIN TRANSACTION;
CREATE TABLE bisect_steps (
      bisect_id TEXT NOT NULL, seq INTEGER NOT NULL, commit_sha TEXT NOT NULL, verdict TEXT NOT NULL,
      source TEXT NOT NULL, seconds REAL NOT NULL, run_id TEXT NOT NULL, summary TEXT NOT NULL,
      PRIMARY KEY (bisect_id, seq));
CREATE TABLE bisects (
      id TEXT PRIMARY KEY, good TEXT NOT NULL, bad TEXT NOT NULL, level TEXT NOT NULL,
      suite_hash TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '',
      answer TEXT NOT NULL DEFAULT '');
INSERT INTO "bisects" VALUES('b1','0000000000000000000000000000000000000000','1111111111111111111111111111111111111111','contract','ffffffffffffffff','2024-01-03T00:00:00+00:00','','');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema','1');
CREATE TABLE pointers (
  name TEXT PRIMARY KEY, image_id TEXT NOT NULL, commit_sha TEXT NOT NULL,
  run_id TEXT NOT NULL, updated TEXT NOT NULL
);
INSERT INTO "pointers" VALUES('last-good','sha256:1111111111111111111111111111111111111111111111111111111111111111','0000000000000000000000000000000000000000','20240101-000000-abc123','2024-01-01T00:00:00+00:00');
CREATE TABLE releases (
  revision INTEGER PRIMARY KEY, action TEXT NOT NULL, image_id TEXT NOT NULL,
  commit_sha TEXT NOT NULL, from_image_id TEXT NOT NULL, run_id TEXT NOT NULL,
  created TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
  based_on INTEGER NOT NULL
);
INSERT INTO "releases" VALUES(1,'promote','sha256:1111111111111111111111111111111111111111111111111111111111111111','c','','','t','u','',0,1);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, image_id TEXT NOT NULL,
  image_tag TEXT NOT NULL, deps_key TEXT NOT NULL, suite TEXT NOT NULL,
  suite_hash TEXT NOT NULL, level TEXT NOT NULL, verdict TEXT NOT NULL, summary TEXT NOT NULL,
  started TEXT NOT NULL, build_seconds REAL NOT NULL, run_seconds REAL NOT NULL,
  run_dir TEXT NOT NULL, cases TEXT NOT NULL
);
INSERT INTO "runs" VALUES('20240101-000000-abc123','0000000000000000000000000000000000000000','sha256:1111111111111111111111111111111111111111111111111111111111111111','harness/x:000000000000','dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd','baseline','ffffffffffffffff','baseline','pass','2/2','2024-01-01T00:00:00+00:00',3.5,9.0,'/runs/r','[{"case_id": "t2v", "model": "t2v_tiny", "runner_status": "success", "verdict": "pass", "reasons": [], "output_path": "/runs/r/t2v.mp4", "generation_time": 1.25, "error": "", "video": {"path": "/runs/r/t2v.mp4", "exists": true, "decodes": true, "frames": 9, "width": 64, "height": 48, "constant": false, "size_bytes": 10, "error": ""}, "gpu_peak_mib": null, "gpu_util_mean": null, "gpu_leak_mib": null, "drift_psnr": null, "notes": []}, {"case_id": "vace", "model": "vace_tiny", "runner_status": "failed", "verdict": "fail", "reasons": ["runner status failed: boom", "no output video"], "output_path": "", "generation_time": 0.0, "error": "boom", "video": null, "gpu_peak_mib": null, "gpu_util_mean": null, "gpu_leak_mib": null, "drift_psnr": null, "notes": []}]');
INSERT INTO "runs" VALUES('20240101-000001-c0c0c0','0000000000000000000000000000000000000000','','','','baseline','ffffffffffffffff','contract','pass','contract holds','2024-01-01T00:00:00+00:00',3.5,9.0,'/runs/r','[]');
CREATE TABLE unreachable (commit_sha TEXT PRIMARY KEY, seen TEXT NOT NULL);
INSERT INTO "unreachable" VALUES('1111111111111111111111111111111111111111','2024-01-02T00:00:00+00:00');
CREATE INDEX runs_commit ON runs (commit_sha, suite_hash, level);
COMMIT;

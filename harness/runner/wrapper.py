"""Wrapper mode in the image: run the wrapper's own test command, then hand its results over.

harness judges the wrapper's results file on the host (seed schema: `results[].status`,
`output_path`, `error`). Here, only what the host cannot do itself: find the file (a glob: the
seed's script writes it under a timestamped folder), give each row the suite case it answers
(`case_id`, else `id`, else its `model` when one case has it), and copy a video the wrapper wrote
outside the output folder into it (the host reads only that folder). A command that wrote no
results fails every case with the wrapper's own error, its last `...Error:` line.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

RESULTS = "results.json"  # what the host reads: the wrapper's rows, each with its case_id
ORIGINAL = "wrapper-results.json"  # the wrapper's file as it wrote it
_ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit)\b.*$")
_TAIL = 200
# The GPU telemetry window of the whole command (harness/telemetry.py reads the runner's case
# markers; a wrapper's own cases have none): the host gives its peak to every case.
WHOLE_RUN = "wrapper-run"  # also harness/ops/test.py


def run_wrapper(root: Path, out: Path, spec: dict[str, Any], *, command: str, results: str, spec_path: Path) -> int:
    """Run `command` in the wrapper's folder `root`; write out/results.json for the host."""
    out.mkdir(parents=True, exist_ok=True)
    line = command.replace("{out}", str(out)).replace("{spec}", str(spec_path))
    print(f"[harness-runner] wrapper test command: {line}", flush=True)
    print(f"[harness-runner] case {WHOLE_RUN} (the wrapper's test command)", flush=True)
    exit_code, tail = _run(line, root)
    print(f"[harness-runner] case {WHOLE_RUN}: exited {exit_code}", flush=True)
    found = newest(out, results)
    doc = _read(found) if found else None
    cases = spec.get("cases", [])
    if found is None or doc is None:
        why = f"the wrapper's test command exited {exit_code} without a readable {results}"
        error = last_error(tail)
        doc = {"results": [{"case_id": c["id"], "status": "failed", "error": f"{why}: {error}"} for c in cases]}
    else:
        (out / ORIGINAL).write_bytes(found.read_bytes())
        rows = doc.get("results")
        for index, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, dict):
                _collect(row, root, out, index)
        match_cases(rows if isinstance(rows, list) else [], cases)
    doc["wrapper"] = {"exit_code": exit_code, "results_file": str(found) if found else None, "error": last_error(tail)}
    (out / RESULTS).write_text(json.dumps(doc, indent=2, default=str))
    return exit_code


def _run(line: str, root: Path) -> tuple[int, list[str]]:
    """The command through the shell, its output streamed (the host's log and telemetry read it)."""
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
    proc = subprocess.Popen(
        ["sh", "-c", line], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None
    for text in proc.stdout:
        print(text, end="", flush=True)
        tail.append(text.rstrip("\n"))
    return proc.wait(), list(tail)


def newest(out: Path, pattern: str) -> Path | None:
    """The newest file matching `pattern` under `out` (the seed writes it under a timestamped folder)."""
    found = [p for p in out.glob(pattern) if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime_ns, str(p))) if found else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def last_error(tail: list[str]) -> str:
    """The wrapper's error as it printed it: the last `XxxError: ...` line, else its last line."""
    for text in reversed(tail):
        if _ERROR_LINE.match(text):
            return text.strip()[:500]
    return next((t.strip()[:500] for t in reversed(tail) if t.strip()), "no output")


def match_cases(rows: list[Any], cases: list[dict[str, Any]]) -> None:
    """Give each row the case it answers: its `case_id`, else `id`, else the one case of its `model`."""
    ids = {c["id"] for c in cases}
    by_model: dict[str, list[str]] = {}
    for case in cases:
        by_model.setdefault(str(case.get("settings", {}).get("model_type")), []).append(case["id"])
    for row in rows:
        if not isinstance(row, dict) or row.get("case_id") in ids:
            continue
        if row.get("id") in ids:
            row["case_id"] = row["id"]
        elif len(by_model.get(str(row.get("model")), [])) == 1:
            row["case_id"] = by_model[str(row.get("model"))][0]


def _collect(row: dict[str, Any], root: Path, out: Path, index: int) -> None:
    """A video the wrapper wrote outside the output folder is copied in (the host reads only that)."""
    path = row.get("output_path")
    if not isinstance(path, str) or not path:
        return
    video = (root / path) if not Path(path).is_absolute() else Path(path)
    try:
        inside = video.resolve().is_relative_to(out.resolve())
    except OSError:
        return
    if inside or not video.is_file():
        row["output_path"] = str(video)
        return
    target = out / "wrapper-videos" / f"{index}-{video.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video, target)
    row["wrapper_output_path"], row["output_path"] = path, str(target)

"""The in-image runner against the mini upstream, run with the host's Python (no engine).

Each upstream shape picks its entry point; the mmgp-style `exit()` at import (status 0)
is noticed as an import that never finished.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.sample.make import Files, knob, template

SPEC = {
    "run_id": "r1",
    "description": "t",
    "cases": [
        {
            "id": "a",
            "settings": {
                "model_type": "t2v_tiny",
                "prompt": "fox",
                "resolution": "32x24",
                "video_length": 5,
                "num_inference_steps": 1,
                "seed": 1,
            },
        },
        {
            "id": "b",
            "settings": {
                "model_type": "no_such_model",
                "prompt": "fox",
                "resolution": "32x24",
                "video_length": 5,
                "num_inference_steps": 1,
                "seed": 1,
            },
        },
    ],
}


def _run(tmp_path: Path, files: Files) -> tuple[int, dict[str, Any]]:
    root = tmp_path / "up"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text or "")
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.runner",
            "--spec",
            str(tmp_path / "spec.json"),
            "--out",
            str(out),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize(
    ("files", "entry"),
    [
        (template(), "api"),
        (template(api=False), "process"),
        (template(api=False, process_mode=False), "inprocess"),
    ],
)
def test_each_entry_point_generates_and_reports_unknown_models(tmp_path: Path, files: Files, entry: str) -> None:
    code, doc = _run(tmp_path, files)
    assert doc["entry_point"] == entry and doc["import_finished"] is True
    good, bad = doc["results"]
    assert good["status"] == "success" and Path(good["output_path"]).is_file()
    assert good["output_path"].startswith(str(tmp_path / "out" / "a"))
    assert bad["status"] in {"failed", "no_output"}
    assert code == 1  # one case failed


def test_exit_zero_at_import_is_noticed(tmp_path: Path) -> None:
    wgp = (template(api=False, process_mode=False)["wgp.py"] or "").replace(
        "FLAT_OUTPUT = False", "exit()  # like wgp's mmgp version check\nFLAT_OUTPUT = False"
    )
    code, doc = _run(tmp_path, {**template(api=False, process_mode=False), "wgp.py": wgp})
    assert doc["import_finished"] is False
    assert "exit(None)" in str(doc["import_error"])
    assert code == 1 and all(r["status"] == "failed" for r in doc["results"])


def test_flat_output_still_reports_success_runner_side(tmp_path: Path) -> None:
    # The runner only reports; the host judges the video (tests/unit/test_evaluate.py).
    files = {**template(), "wgp.py": knob(template()["wgp.py"] or "", "FLAT_OUTPUT", True)}
    _, doc = _run(tmp_path, files)
    assert doc["results"][0]["status"] == "success"

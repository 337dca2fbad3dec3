"""The synthetic wrapper and harness's own runner over the same upstream edits, with the host's
Python (no engine): the edits that break the wrapper leave upstream generating, so only a test
of the wrapper itself can see them (issue 15).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from harness.sample.make import Files, template
from harness.sample.wrapper import (
    FRAMES,
    MODEL,
    UPSTREAM_EDITED,
    flat_output,
    frames_renamed,
    renamed_generate_video,
    unset_server_config,
    wrapper_files,
)

Edit = Callable[[str], str]


def _upstream(edit: Edit | None = None, **shape: bool) -> Files:
    files = template(**shape)
    return {k: edit(v or "") if edit and k in UPSTREAM_EDITED else v for k, v in files.items()}


def _write(root: Path, files: Files) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text or "")


def _baseline(tmp_path: Path, wrapper: Files, upstream: Files) -> dict[str, Any]:
    """run_baseline.py as the wrapper's own test command runs it; its results row."""
    root = tmp_path / "wrapper"
    _write(root, {**wrapper, **{f"Wan2GP/{k}": v for k, v in upstream.items()}})
    command = [sys.executable, "run_baseline.py", "--output-dir", str(tmp_path / "out")]
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr  # the seed's script exits 0 on failures too
    [row] = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert row["model"] == MODEL
    return dict(row)


def _frames(path: str) -> list[np.ndarray[Any, Any]]:
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (renamed_generate_video, "ImportError: cannot import name 'generate_video' from 'wgp'"),
        (unset_server_config, "AttributeError: module 'wgp' has no attribute 'server_config'"),
    ],
)
def test_upstream_edit_fails_the_wrapper_with_its_error(tmp_path: Path, edit: Edit, error: str) -> None:
    row = _baseline(tmp_path, wrapper_files(), _upstream(edit))
    assert row["status"] == "failed" and error in row["error"]


def test_wrapper_passes_on_the_base_upstream(tmp_path: Path) -> None:
    row = _baseline(tmp_path, wrapper_files(), _upstream())
    assert row["status"] == "success" and Path(row["output_path"]).is_absolute()
    frames = _frames(row["output_path"])
    assert len(frames) == FRAMES and frames[0].shape == (48, 64, 3)
    assert max(float(f.std()) for f in frames) > 1


@pytest.mark.parametrize(("edit", "frames", "constant"), [(flat_output, FRAMES, True), (frames_renamed, 81, False)])
def test_wrapper_edits_report_success_over_a_bad_video(tmp_path: Path, edit: Edit, frames: int, constant: bool) -> None:
    files = wrapper_files()
    row = _baseline(tmp_path, {**files, "headless_wgp.py": edit(files["headless_wgp.py"] or "")}, _upstream())
    video = _frames(row["output_path"])
    assert row["status"] == "success" and len(video) == frames
    assert (max(float(f.std()) for f in video) == 0) is constant


@pytest.mark.parametrize("edit", [renamed_generate_video, unset_server_config])
@pytest.mark.parametrize("shape", [{}, {"api": False}, {"api": False, "process_mode": False}])
def test_harness_own_runner_still_generates_after_the_edit(tmp_path: Path, edit: Edit, shape: dict[str, bool]) -> None:
    root = tmp_path / "up"
    _write(root, _upstream(edit, **shape))
    settings = {"model_type": MODEL, "prompt": "fox", "resolution": "32x24", "video_length": 5, "seed": 1}
    (tmp_path / "spec.json").write_text(json.dumps({"run_id": "r", "cases": [{"id": "a", "settings": settings}]}))
    argv = ["--spec", str(tmp_path / "spec.json"), "--out", str(tmp_path / "out"), "--root", str(root)]
    proc = subprocess.run([sys.executable, "-m", "harness.runner", *argv], capture_output=True, text=True, timeout=300)
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["results"][0]["status"] == "success"

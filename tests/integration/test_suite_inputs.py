"""Overlays in the image, generated guide/mask clips, and `weights pull` on the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.adapters.video import read_frames
from harness.model import Verdict
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
OVERLAY = {"model": {"name": "wrapper's own", "architecture": "t2v", "URLs": "t2v_tiny"}, "guidance_scale": 1.0}


def test_overlays_and_generated_clips_reach_the_run(project: Project, tmp_path: Path) -> None:
    sha = project.commit("good", template())
    overlays = tmp_path / "overlays"
    overlays.mkdir()
    (overlays / "wrapper_model.json").write_text(json.dumps(OVERLAY))
    cases = """\
    - id: overlay
      model: wrapper_model
      prompt: p
    - id: vace
      model: vace_tiny
      prompt: p
      guide_video: generated
      mask_video: generated
"""
    write_config(
        tmp_path, upstream=project.upstream, repo=project.repo, cases=cases, extra_suite=f"  overlays: {overlays}\n"
    )
    code, output = project.run("build-and-test", "HEAD")
    assert code == 0, output
    inside = project.engine.images.read_file(f"{project.repo}:{sha[:12]}", "/opt/wan2gp/finetunes/wrapper_model.json")
    assert json.loads(inside) == OVERLAY
    [record] = project.store().runs()
    assert all(c.verdict is Verdict.PASS for c in record.cases)
    spec = json.loads(next(Path(record.run_dir, "in").glob("spec.json")).read_text())
    guide = spec["cases"][1]["settings"]["video_guide"]
    mask = spec["cases"][1]["settings"]["video_mask"]
    assert guide.endswith("generated-sample.mp4") and mask.endswith("generated-mask.mp4")
    clip = Path(record.run_dir, "in", Path(guide).name)
    assert clip.is_file() and clip.stat().st_size > 1000
    mask_frames = read_frames(Path(record.run_dir, "in", Path(mask).name))
    assert mask_frames.shape == read_frames(clip).shape
    assert np.all((mask_frames <= 16) | (mask_frames >= 239))  # black and white, codec noise allowed


def test_weights_pull_reports_what_it_fetched(project: Project, tmp_path: Path) -> None:
    head = project.commit("good", template())
    cache = tmp_path / "models"
    cache.mkdir()
    write_config(tmp_path, upstream=project.upstream, repo=project.repo, run_extra=f"  model_cache: {cache}\n")
    code, report = project.run_json("weights", "pull")
    assert code == 0, report
    # Resolved from the model definitions (JSON) at HEAD; the mini models name no weight files.
    assert report == {"commit": head, "models": ["t2v_tiny"], "files": [], "total_bytes": 0, "errors": []}
    code, output = project.run("build-and-test", "HEAD")  # the cache is mounted read-only for tests
    assert code == 0, output

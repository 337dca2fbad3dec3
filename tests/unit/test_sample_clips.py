"""`generated` inputs: the seed suite's VACE cases get a guide clip and a real mask clip."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np

from harness.adapters.video import read_frames, write_sample_clip
from harness.config import GENERATED, GENERATED_MASK, PROJECT_ROOT, Config, load_config
from harness.model import VideoFacts
from harness.ops.test import run_suite
from harness.plan import suite_plan
from tests.unit.fakes import FakeGpu, FakeRunner, Quiet

SEED = PROJECT_ROOT / "harness" / "suites" / "seed"
# MPEG-4 noise allowance: a mask pixel is "black" at or below this, "white" at or above 255 - it.
NOISE = 16


def _unseen(path: Path) -> VideoFacts:
    return VideoFacts(path=str(path), exists=False)


def _seed(tmp_path: Path) -> Config:
    """The seed suite as README says to use it: copied next to a weights folder."""
    folder = tmp_path / "seed"
    shutil.copytree(SEED, folder)
    (folder / "ckpts").mkdir()
    return load_config(folder / "harness.yaml")


def test_seed_suite_asks_for_a_generated_mask_not_the_guide(tmp_path: Path) -> None:
    vace = [c for c in _seed(tmp_path).suite.cases if c.guide_video]
    assert vace and all(c.guide_video == GENERATED and c.mask_video == GENERATED_MASK for c in vace)


def test_seed_run_writes_a_binary_mask_clip_beside_the_guide(tmp_path: Path) -> None:
    cfg = _seed(tmp_path)
    run_dir = tmp_path / "run"
    run_suite(
        suite_plan(cfg),
        image="sha256:" + "0" * 64,
        run_id="r1",
        run_dir=run_dir,
        labels={},
        runner=FakeRunner(lambda request, log: None),  # runs nothing: the inputs written are looked at
        gpu_probe=FakeGpu(),
        probe=_unseen,
        reporter=Quiet(),
        smoke=True,  # no GPU here: the inputs are written all the same
        sample_clip=functools.partial(write_sample_clip, width=64, height=48, frames=9, seed=12345),
    )
    settings = json.loads((run_dir / "in" / "spec.json").read_text())["cases"][0]["settings"]
    guide_path = run_dir / "in" / Path(settings["video_guide"]).name
    mask_path = run_dir / "in" / Path(settings["video_mask"]).name
    assert guide_path != mask_path and settings["video_prompt_type"] == "VM"
    guide, mask = read_frames(guide_path), read_frames(mask_path)
    assert mask.shape == guide.shape == (9, 48, 64)
    black, white = mask <= NOISE, mask >= 255 - NOISE
    assert np.all(black | white), f"grey mask pixels: {np.unique(mask[~(black | white)])}"
    assert black.any() and white.any()
    assert not np.array_equal(mask, guide)

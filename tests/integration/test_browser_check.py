"""The browser checks of the report tests (tests/browser.py) find what they claim to find: a
page with a missing image, a video Chromium cannot play (MPEG-4 part 2), a link to nothing and
a script error is reported on each count; a clean page with a PNG, an SVG and a VP9 video is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.adapters.video import VideoMedia, write_sample_clip
from tests.browser import Browser, crawl

pytestmark = pytest.mark.integration


def _site(folder: Path) -> Path:
    media = VideoMedia()
    write_sample_clip(folder / "guide.mp4", width=64, height=48, frames=9, seed=1)  # MPEG-4 part 2
    assert media.sheet(folder / "guide.mp4", folder / "sheet.png") == ""
    webm, error = media.web_copy(folder / "guide.mp4", folder, "guide")
    assert webm is not None and error == ""
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>'
    (folder / "good.html").write_text(
        f'<!DOCTYPE html><title>good</title><img src="sheet.png">{svg}<video src="guide.webm"></video>'
        '<a href="bad.html">bad</a> <a href="#top" id="top">top</a>'
    )
    (folder / "bad.html").write_text(
        '<!DOCTYPE html><title>bad</title><img src="missing.png"><video src="guide.mp4"></video>'
        '<a href="nowhere.html">nowhere</a><script>undefinedFunction()</script>'
    )
    return folder


def test_a_clean_page_passes_and_each_defect_of_a_bad_one_is_found(tmp_path: Path, chromium: Browser) -> None:
    site = _site(tmp_path)
    checks = {Path(c.url).name: c for c in crawl(chromium, (site / "good.html").as_uri())}
    assert set(checks) == {"good.html", "bad.html"}  # the bad page was reached by its link
    assert checks["good.html"].problems == []
    bad = checks["bad.html"]
    assert bad.broken_images == ("missing.png",) and bad.broken_links == ("nowhere.html",)
    assert len(bad.broken_videos) == 1 and "guide.mp4" in bad.broken_videos[0]
    assert any("undefinedFunction" in e for e in bad.console_errors)
    shot = tmp_path / "shot.png"
    chromium.screenshot((site / "good.html").as_uri(), shot)
    assert shot.stat().st_size > 1000 and np.frombuffer(shot.read_bytes()[:8], np.uint8).tolist()[1:4] == [80, 78, 71]

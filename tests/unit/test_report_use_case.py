"""`harness report` as a use case (ops/report.py) over a real store and typed fakes of the media
maker and the site folder: media made once per run and kept with it, run files linked, what
could not be linked left off the pages, what is gone removed, the engine's absence said."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.bisect_log import BisectLog
from harness.model import CaseResult, Commit, RunRecord, Verdict, VideoFacts
from harness.ops.report import MEDIA_DIR, ReportWorld, image_facts, report, work_lines
from harness.runfolder import Orphan
from harness.services import ImageInfo
from harness.site.facts import Impact
from harness.site.refs import run_page
from harness.store import Store
from harness.watch import Bisecting, WatchState
from tests.unit.fakes import FakeMedia, FakeSite, Quiet, record, sha


def video_run(tmp_path: Path, run_id: str, letter: str, *names: str) -> tuple[Path, RunRecord]:
    folder = tmp_path / "runs" / run_id
    (folder / "out").mkdir(parents=True)
    (folder / "container.log").write_text("log\n")
    cases = []
    for name in names:
        video = folder / "out" / name
        video.write_bytes(b"video " + name.encode())
        facts = VideoFacts(path=str(video), exists=True, decodes=True, frames=9, width=64, height=48, size_bytes=8)
        cases.append(
            CaseResult(
                case_id=name.split(".")[0],
                model="m",
                runner_status="success",
                verdict=Verdict.PASS,
                reasons=(),
                output_path=str(video),
                video=facts,
            )
        )
    base = record(sha(letter), "sha256:" + letter * 4, run_id)
    return folder, dataclasses.replace(base, run_dir=str(folder), cases=tuple(cases))


def world(store: Store, media: FakeMedia, site: FakeSite, **kw: Any) -> ReportWorld:
    timeline = [Commit(sha=sha(x), message=f"commit {x}", author="a", date="d") for x in "ba"]
    fields: dict[str, Any] = {
        "title": "t",
        "ref": "main",
        "store": store,
        "bisects": lambda: [(s, BisectLog(store).steps(s.id)) for s in BisectLog(store).sessions()],
        "timeline": lambda: timeline,
        "commit": lambda sha: None,
        "images": lambda ids: image_facts(ids, []),
        "impact": lambda culprit: Impact(error="none here"),
        "work": lambda: (),
        "media": media,
        "site": site,
        "reporter": Quiet(),
        **kw,
    }
    return ReportWorld(**fields)


def test_media_are_made_once_per_run_and_kept_with_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    folder, run = video_run(tmp_path, "20260101-000001-aaaaaa", "a", "t2v.mp4", "i2v.avi")
    store.add_run(run)
    media, site = FakeMedia(), FakeSite()
    done = report(world(store, media, site))
    assert done.media_made == 1 and [p.name for p in media.sheets] == ["t2v.mp4", "i2v.avi"]
    assert [p.name for p in media.copies] == ["i2v.avi"]  # a browser cannot play it: a web copy
    index = json.loads((folder / MEDIA_DIR / "media.json").read_text())
    assert index["i2v"]["video"] == str(folder / MEDIA_DIR / "c1.webm")
    base = "runs/20260101-000001-aaaaaa"
    assert site.linked[f"{base}/c1.webm"] == folder / MEDIA_DIR / "c1.webm"
    assert site.linked[f"{base}/c0.mp4"] == folder / "out" / "t2v.mp4"
    assert site.linked[f"{base}/container.log.txt"] == folder / "container.log"
    again = report(world(store, media, site))
    assert again.media_made == 0 and len(media.sheets) == 2  # read from media.json, never made twice
    assert again.written == 0 and again.linked == 0 and again.removed == 0


def test_a_video_retention_removed_is_said_on_the_page_and_leaves_the_site(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    folder, run = video_run(tmp_path, "20260101-000001-aaaaaa", "a", "t2v.mp4")
    store.add_run(run)
    media, site = FakeMedia(), FakeSite()
    report(world(store, media, site))
    (folder / "out" / "t2v.mp4").unlink()  # watch's retention, keep_days later
    later = report(world(store, media, site))
    page = site.files[run_page("20260101-000001-aaaaaa")]
    assert "no longer kept" in page and "<video" not in page
    assert "runs/20260101-000001-aaaaaa/c0.mp4" in site.removed and later.removed == 1
    assert "<img" in page  # the contact sheet stays


def test_a_file_that_cannot_be_linked_is_left_off_the_page_with_the_reason(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    _, run = video_run(tmp_path, "20260101-000001-aaaaaa", "a", "t2v.mp4")
    store.add_run(run)
    site = FakeSite()
    site.refuse = {"runs/20260101-000001-aaaaaa/c0.mp4"}
    done = report(world(store, FakeMedia(), site))
    page = site.files[run_page("20260101-000001-aaaaaa")]
    assert "<video" not in page and "refused" in page and len(done.problems) == 1
    assert "runs/20260101-000001-aaaaaa/c0.mp4" not in site.saved  # tried again next time


def test_a_video_whose_sheet_cannot_be_made_says_why(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    _, run = video_run(tmp_path, "20260101-000001-aaaaaa", "a", "t2v.mp4")
    store.add_run(run)
    site = FakeSite()
    report(world(store, FakeMedia(broken={"t2v.mp4"}), site))
    page = site.files[run_page("20260101-000001-aaaaaa")]
    assert "no contact sheet: not a video: no decodable frame" in page and "<img" not in page


def test_a_run_whose_folder_gc_removed_still_has_its_page(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    folder, run = video_run(tmp_path, "20260101-000001-aaaaaa", "a", "t2v.mp4")
    store.add_run(run)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    site = FakeSite()
    done = report(world(store, FakeMedia(), site))
    assert done.media_made == 0 and "the run folder is gone" in site.files[run_page("20260101-000001-aaaaaa")]


def test_image_facts_say_when_the_engine_was_not_asked_or_the_image_is_gone() -> None:
    info = ImageInfo(id="sha256:aa", tags=("r:aa",), labels={"harness.recipe": "cpu"}, created="", size=5)
    facts = image_facts(["sha256:aa", "sha256:bb"], [info])
    assert facts["sha256:aa"].present and facts["sha256:aa"].size_bytes == 5 and facts["sha256:aa"].tags == ("r:aa",)
    assert not facts["sha256:bb"].present and "gc" in facts["sha256:bb"].note
    down = image_facts(["sha256:aa"], None, "engine unreachable")
    assert down["sha256:aa"].note == "the engine was not asked: engine unreachable"


def test_work_lines_name_running_runs_the_bisect_and_the_queue() -> None:
    running = Orphan(run_id="r1", run_dir=Path("/x"), facts={"commit": sha("a"), "level": "smoke", "started": "t0"})
    state = WatchState(queue=(sha("c"),), bisecting=Bisecting(session="s", good=sha("a"), bad=sha("b"), level="smoke"))
    assert work_lines(state, [running]) == (
        f"running: run r1, commit {sha('a')[:12]}, level smoke, since t0",
        f"bisecting {sha('a')[:12]}..{sha('b')[:12]} at the smoke level",
        f"queued: {sha('c')[:12]}",
    )

"""The report's render time (issue 17; run by hand, not a test): prints figures, asserts nothing.

A store of 1,000 runs over 300 upstream commits (a real git mirror made with fast-import), 3
cases each with a real H.264 video (64x48, 9 frames: the shape real Wan2GP writes, so no web
copy), results.json and a container log per run, 3 bisects, 5 releases. The real adapters render
it (harness/ops/report.py over SiteFolder, VideoMedia, GitUpstream offline, the store):
  1. cold: every contact sheet made (3,000), every page written;
  2. the site folder removed, the media kept: the render alone;
  3. nothing changed: a render that writes nothing;
  4. one new run: the incremental render (goal: under 1 s).
Usage: .venv/bin/python bench/report_1000.py [RUNS] [COMMITS]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.adapters.git_repo import FetchSession, GitUpstream  # noqa: E402
from harness.adapters.site_files import SiteFolder  # noqa: E402
from harness.adapters.video import VideoMedia  # noqa: E402
from harness.bisect_log import BisectLog  # noqa: E402
from harness.model import BisectSession, BisectStep, CaseResult, Release, RunRecord, Verdict, VideoFacts  # noqa: E402
from harness.ops.report import ReportWorld, image_facts, report  # noqa: E402
from harness.services import ImageInfo  # noqa: E402
from harness.site.facts import Impact  # noqa: E402
from harness.store import Store  # noqa: E402
from tests.unit.fakes import Quiet  # noqa: E402

CASES = ("t2v", "vace", "i2v")


def clip(path: Path, seed: int) -> None:
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        base = np.random.default_rng(seed).integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
        for i in range(9):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, i * 4, axis=1), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def upstream(folder: Path, commits: int) -> list[str]:
    """`commits` first-parent commits by fast-import (seconds, not minutes), as a bare mirror."""
    repo = folder / "upstream"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    stream = []
    for n in range(commits):
        message = f"commit {n}: {'<script>x</script> ' if n % 50 == 7 else ''}change {n}\n"
        stream += [
            "commit refs/heads/main",
            f"committer Bench <b@x> {1767225600 + n * 3600} +0000",
            f"data {len(message.encode())}",
            message.rstrip("\n"),
            f"M 644 inline wgp.py\ndata {len(f'# {n}')}\n# {n}",
            "",
        ]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input="\n".join(stream).encode(), check=True)
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=repo, check=True)
    out = subprocess.run(["git", "rev-list", "--first-parent", "--reverse", "main"], cwd=repo, capture_output=True)
    return out.stdout.decode().split()


def a_run(n: int, sha: str, runs_root: Path, clips: list[Path]) -> RunRecord:
    run_id = f"2026{(n // 86400) % 12 + 1:02d}01-{n // 3600 % 24:02d}{n // 60 % 60:02d}{n % 60:02d}-{n:06x}"
    folder = runs_root / run_id
    (folder / "out").mkdir(parents=True)
    (folder / "container.log").write_text(f"run {n}\n" * 20)
    verdict = Verdict.FAIL if n % 17 == 0 else Verdict.PASS
    cases = []
    for c, case_id in enumerate(CASES):
        video = folder / "out" / f"{case_id}.mp4"
        os.link(clips[(n + c) % len(clips)], video)
        facts = VideoFacts(path=str(video), exists=True, decodes=True, frames=9, width=64, height=48, size_bytes=900)
        cases.append(
            CaseResult(
                case_id=case_id, model=case_id, runner_status="success", verdict=verdict, reasons=(),
                output_path=str(video), generation_time=10 + (n % 7) + c, video=facts,
                gpu_peak_mib=20000.0 + 100 * (n % 13), gpu_util_mean=90.0, drift_psnr=30 + (n % 5),
            )
        )  # fmt: skip
    (folder / "results.json").write_text(json.dumps({"results": [c.case_id for c in cases]}))
    return RunRecord(
        run_id=run_id, commit=sha, image_id=f"sha256:{sha}", image_tag=f"bench:{sha[:12]}", deps_key="k",
        suite="bench", suite_hash="s", verdict=verdict, summary=f"{verdict.value} ({n})", cases=tuple(cases),
        started=f"2026-01-01T00:00:00+00:00#{n:06d}", build_seconds=60.0 if n % 9 == 0 else 0.3,
        run_seconds=40.0, run_dir=str(folder), level="baseline" if n % 4 else "contract", contract_hash="c",
    )  # fmt: skip


def populate(folder: Path, runs: int, shas: list[str]) -> Store:
    clips = []
    for seed in range(8):
        clip(folder / f"clip{seed}.mp4", seed)
        clips.append(folder / f"clip{seed}.mp4")
    store = Store(folder / "state" / "state.db")
    for n in range(runs):
        store.add_run(a_run(n, shas[n * len(shas) // runs], folder / "state" / "runs", clips))
    log = BisectLog(store)
    third, span = len(shas) // 3, max(len(shas) // 8, 7)
    for b in range(3):
        good, bad = shas[b * third], shas[b * third + span]
        log.start(BisectSession(id=f"b{b}", good=good, bad=bad, level="baseline", suite_hash="s", started=f"t{b}",
                                finished="", answer={}))  # fmt: skip
        for step in range(6):
            probe = shas[b * third + step * span // 7]
            log.add_step(f"b{b}", BisectStep(commit=probe, verdict=Verdict.PASS, source="fresh", seconds=40.0,
                                             run_id="", summary="pass"))  # fmt: skip
        log.finish(f"b{b}", "t", {"first_bad": shas[b * third + span - 1]})
    for r in range(5):
        sha = shas[r * third // 2]
        store.add_release(Release(revision=0, action="promote", image_id=f"sha256:{sha}", commit=sha,
                                  from_image_id="", run_id="", created=f"t{r}", user="bench", reason="bench",
                                  forced=False, based_on=0))  # fmt: skip
    return store


def world(store: Store, mirror: Path, site: Path) -> tuple[ReportWorld, GitUpstream]:
    git = GitUpstream(str(mirror), mirror, FetchSession(offline=True))
    infos = [ImageInfo(id=r.image_id, tags=(r.image_tag,), labels={"harness.recipe": "cpu"}, created="", size=3 << 30)
             for r in store.runs(100_000)]  # fmt: skip
    log = BisectLog(store)
    return ReportWorld(
        title="bench", ref="main", store=store,
        bisects=lambda: [(s, log.steps(s.id)) for s in log.sessions()],
        timeline=lambda: git.first_parent_log("main", 300), commit=git.known_commit,
        images=lambda ids: image_facts(ids, infos), impact=lambda sha: Impact(doc={"checklist": ["bench"]}),
        work=lambda: (), media=VideoMedia(), site=SiteFolder(site), reporter=Quiet(),
    ), git  # fmt: skip


def size_mib(folder: Path) -> tuple[float, float]:
    """The site's size counting hard-linked files (apparent), and what it adds on disk (its own blocks)."""
    apparent = owned = 0
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.stat()
            apparent += st.st_size
            owned += st.st_blocks * 512 if st.st_nlink == 1 else 0
    return apparent / 2**20, owned / 2**20


def timed(what: str, store: Store, mirror: Path, site: Path) -> float:
    w, git = world(store, mirror, site)
    done = report(w)
    git.close()
    print(f"{what:52s} {done.seconds:7.2f} s  written {done.written:5d}  unchanged {done.unchanged:5d}  "
          f"linked {done.linked:5d}  media made for {done.media_made} run(s)")  # fmt: skip
    return done.seconds


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    commits = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    folder = Path(tempfile.mkdtemp(prefix="harness-report-bench-"))
    try:
        t = time.monotonic()
        shas = upstream(folder, commits)
        store = populate(folder, runs, shas)
        print(f"store: {runs} runs over {commits} commits, {len(CASES)} cases each, in {time.monotonic() - t:.1f} s")
        mirror, site = folder / "upstream", folder / "site"
        cold = timed("1. cold (contact sheets made, every page)", store, mirror, site)
        pages = sum(1 for _ in site.rglob("*.html"))
        apparent, owned = size_mib(site)
        shutil.rmtree(site)
        full = timed("2. full render, media already made", store, mirror, site)
        timed("3. nothing changed", store, mirror, site)
        clips = sorted(folder.glob("clip*.mp4"))
        store.add_run(a_run(runs, shas[-1], folder / "state" / "runs", clips))
        incremental = timed("4. one new run (incremental)", store, mirror, site)
        print(
            f"pages {pages}; site {apparent:.1f} MiB counting hard-linked videos and logs, {owned:.1f} MiB of its own"
        )
        print(f"incremental / full render: {incremental / full:.3f}; cold / full: {cold / full:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""`harness report`: the static HTML site of history, videos, thumbnails and plots.

Gather what the store knows and what the outside systems add (upstream's timeline, the engine's
image facts, each run's media), plan the pages (harness/site: pure), then write only the pages
whose data changed and link each run's files into the site. Thumbnails and browser-playable
copies are made once per video and kept with the run (<run>/report/); what a render made last
time and no longer makes (a run gc removed) leaves the site.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.model import BisectSession, BisectStep, CaseResult, Commit, Pointer, Release, RunRecord
from harness.naming import LAST_GOOD
from harness.ports import Reporter
from harness.runfolder import Orphan
from harness.services import ImageInfo
from harness.site.detail import named_commits
from harness.site.facts import Bisect, CaseMedia, ImageFacts, Impact, RunFiles, SiteInput
from harness.site.pages import pages
from harness.site.refs import run_dir
from harness.site.render import plan_site
from harness.watch import WatchState

MEDIA_DIR = "report"  # in each run folder: its contact sheets and web copies (and their index), made once
RUN_FILES = (  # (label, name in the run folder, name in the site: logs as .txt, shown as text)
    ("container log", "container.log", "container.log.txt"),
    ("build log", "build.log", "build.log.txt"),
    ("results.json", "results.json", "results.json"),
)
MAX_RUNS = 1_000_000


class ReportStore(Protocol):
    def runs(self, limit: int = 50) -> list[RunRecord]: ...
    def releases(self) -> list[Release]: ...
    def pointer(self, name: str) -> Pointer | None: ...


class Media(Protocol):
    """Media made on the host from a run's video (adapters/video.py), and the index of what was
    made for a run, kept in its media folder."""

    def recall(self, folder: Path) -> dict[str, dict[str, str]] | None: ...  # None: never made (or unreadable)
    def remember(self, folder: Path, index: dict[str, dict[str, str]]) -> None: ...

    def sheet(self, video: Path, out: Path) -> str: ...  # "" made, else why not
    def playable(self, video: Path) -> bool: ...  # a browser plays it as it is
    def web_copy(self, video: Path, folder: Path, stem: str) -> tuple[Path | None, str]: ...  # the copy, or why not


class SiteFiles(Protocol):
    """The site's folder: pages written whole, run files linked in, a manifest of what it holds."""

    def manifest(self) -> dict[str, str]: ...
    def exists(self, path: str) -> bool: ...
    def write(self, path: str, text: str) -> None: ...
    def link(self, source: Path, path: str, *, within: Path) -> None: ...  # OSError: not linked
    def remove(self, path: str) -> None: ...
    def save_manifest(self, manifest: dict[str, str]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ReportWorld:
    title: str
    ref: str  # the upstream ref the timeline follows
    store: ReportStore
    bisects: Callable[[], list[tuple[BisectSession, list[BisectStep]]]]
    timeline: Callable[[], list[Commit]]  # first-parent history of `ref`, newest first (bounded)
    commit: Callable[[str], Commit | None]  # a commit the timeline does not hold (None: unknown)
    images: Callable[[list[str]], dict[str, ImageFacts]]
    impact: Callable[[str], Impact]  # a culprit's impact report
    work: Callable[[], tuple[str, ...]]
    media: Media
    site: SiteFiles
    reporter: Reporter


@dataclass(frozen=True, kw_only=True)
class ReportOutcome:
    written: int
    unchanged: int
    removed: int
    linked: int
    media_made: int  # runs whose media were made this time (thumbnails, web copies)
    seconds: float
    problems: tuple[str, ...] = ()  # files that could not be linked: the page says what is missing


def _media_index(record: RunRecord, media: Media) -> tuple[dict[str, dict[str, str]], bool]:
    """Per case of the run: its sheet, its playable video and a note; made once, then recalled."""
    folder = Path(record.run_dir) / MEDIA_DIR
    known = media.recall(folder)
    if known is not None:
        return known, False
    if not Path(record.run_dir).is_dir():
        return {}, False  # gc removed the folder: nothing to make, nothing to keep
    made = {case.case_id: _case_media(n, case, folder, media) for n, case in enumerate(record.cases)}
    media.remember(folder, made)
    return made, True


def _case_media(n: int, case: CaseResult, folder: Path, media: Media) -> dict[str, str]:
    if case.video is None or not case.video.decodes or not case.output_path:
        why = (case.video.error if case.video else "") or "the run left none"
        return {"sheet": "", "video": "", "note": f"no video: {why}"}
    video = Path(case.output_path)
    folder.mkdir(exist_ok=True)
    sheet = folder / f"c{n}-sheet.png"
    sheet_error = media.sheet(video, sheet)
    notes = [f"no contact sheet: {sheet_error}"] if sheet_error else []
    playable: Path | None = video
    if not media.playable(video):
        playable, copy_error = media.web_copy(video, folder, f"c{n}")
        notes += [f"no browser-playable copy: {copy_error}"] if copy_error else []
    return {"sheet": "" if sheet_error else str(sheet), "video": str(playable or ""), "note": "; ".join(notes)}


def _run_media(
    record: RunRecord, index: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, CaseMedia], dict[str, Path]]:
    """The cases' media as the site shows them, and the links that put them there."""
    shown: dict[str, CaseMedia] = {}
    links: dict[str, Path] = {}
    base = run_dir(record.run_id)
    for n, case in enumerate(record.cases):
        made = index.get(case.case_id, {})
        sheet, video, notes = Path(made.get("sheet", "")), Path(made.get("video", "")), [made.get("note", "")]
        sheet_at = video_at = ""
        if made.get("sheet") and sheet.is_file():
            sheet_at = f"{base}/c{n}-sheet.png"
            links[sheet_at] = sheet
        if made.get("video") and video.is_file():
            video_at = f"{base}/c{n}{video.suffix.lower()}"
            links[video_at] = video
        elif made.get("video"):
            notes.append("the video is no longer kept (retention or gc removed it)")
        note = "; ".join(x for x in notes if x) if made else "media not made (the run folder is gone)"
        shown[case.case_id] = CaseMedia(sheet=sheet_at, video=video_at, note=note)
    return shown, links


def _run_files(record: RunRecord) -> tuple[RunFiles, dict[str, Path]]:
    links: dict[str, Path] = {}
    shown: list[tuple[str, str]] = []
    for label, name, as_name in RUN_FILES:
        source = Path(record.run_dir) / name
        if source.is_file():
            at = f"{run_dir(record.run_id)}/{as_name}"
            links[at] = source
            shown.append((label, at))
    return RunFiles(links=tuple(shown)), links


def _bisects(world: ReportWorld) -> tuple[Bisect, ...]:
    found = []
    for session, steps in world.bisects():
        first_bad = str(session.answer.get("first_bad") or "")
        found.append(Bisect(session=session, steps=tuple(steps), impact=world.impact(first_bad) if first_bad else None))
    return tuple(found)


def gather(world: ReportWorld) -> tuple[SiteInput, dict[str, Path], int]:
    """The site's input, the run files to link into it (site path -> source), and how many
    runs had their media made now."""
    runs = tuple(world.store.runs(MAX_RUNS))
    timeline = tuple(world.timeline())
    media: dict[tuple[str, str], CaseMedia] = {}
    files: dict[str, RunFiles] = {}
    links: dict[str, Path] = {}
    made_now = 0
    for record in runs:
        index, made = _media_index(record, world.media)
        made_now += made
        shown, media_links = _run_media(record, index)
        media.update({(record.run_id, case): m for case, m in shown.items()})
        files[record.run_id], file_links = _run_files(record)
        links |= media_links | file_links
    inp = SiteInput(
        title=world.title,
        ref=world.ref,
        timeline=timeline,
        commits={c.sha: c for c in timeline},
        runs=runs,
        releases=tuple(world.store.releases()),
        last_good=world.store.pointer(LAST_GOOD),
        bisects=_bisects(world),
        images=world.images(sorted({r.image_id for r in runs if r.image_id})),
        media=media,
        files=files,
        work=world.work(),
    )
    return _with_commits(inp, world.commit), links, made_now


def _with_commits(inp: SiteInput, lookup: Callable[[str], Commit | None]) -> SiteInput:
    """Every commit a page names, looked up once (those the timeline holds are known)."""
    commits = dict(inp.commits)
    for sha in sorted(named_commits(inp) - set(commits)):
        found = lookup(sha)
        if found is not None:
            commits[sha] = found
    return dataclasses.replace(inp, commits=commits)


def _without(inp: SiteInput, failed: Mapping[str, str]) -> SiteInput:
    """The input with the files that could not be linked left out: no page points at a hole."""
    if not failed:
        return inp
    media = {
        key: CaseMedia(
            sheet="" if m.sheet in failed else m.sheet,
            video="" if m.video in failed else m.video,
            note="; ".join(x for x in (m.note, *(failed[p] for p in (m.sheet, m.video) if p in failed)) if x),
        )
        for key, m in inp.media.items()
    }
    files = {
        run: RunFiles(links=tuple(link for link in f.links if link[1] not in failed)) for run, f in inp.files.items()
    }
    return dataclasses.replace(inp, media=media, files=files)


def report(world: ReportWorld, clock: Callable[[], float] = time.monotonic) -> ReportOutcome:
    """Render the site: plan from what is gathered, write what changed, remove what is gone."""
    started = clock()
    world.reporter.step("report: reading the store, the timeline and the runs' media")
    inp, links, made_now = gather(world)
    site = world.site
    before = {path: d for path, d in site.manifest().items() if site.exists(path)}
    linked, problems = _link(site, links, before, inp.runs)
    kept = {path: str(source) for path, source in links.items() if path not in problems}
    plan = plan_site(pages(_without(inp, problems)), kept, before)
    world.reporter.step(f"report: {len(plan.write)} page(s) to write, {plan.unchanged} unchanged")
    for path, text in plan.write:
        site.write(path, text)
    for path in plan.remove:
        site.remove(path)
    site.save_manifest(plan.manifest)
    return ReportOutcome(
        written=len(plan.write),
        unchanged=plan.unchanged,
        removed=len(plan.remove),
        linked=linked,
        media_made=made_now,
        seconds=clock() - started,
        problems=tuple(problems.values()),
    )


def _link(
    site: SiteFiles, links: Mapping[str, Path], before: Mapping[str, str], runs: tuple[RunRecord, ...]
) -> tuple[int, dict[str, str]]:
    folders = {run_dir(r.run_id): Path(r.run_dir) for r in runs}
    linked, problems = 0, {}
    for path, source in links.items():
        if before.get(path) == f"file:{source}":
            continue  # linked by an earlier render, and still there
        try:
            site.link(source, path, within=folders[path.rsplit("/", 1)[0]])
            linked += 1
        except OSError as exc:
            problems[path] = f"{path}: not linked from {source}: {exc}"
    return linked, problems


def image_facts(ids: list[str], listed: list[ImageInfo] | None, error: str = "") -> dict[str, ImageFacts]:
    """The images runs name, as one engine listing tells them (`listed` None: the engine could
    not be asked, and `error` says why)."""
    if listed is None:
        return {i: ImageFacts(image_id=i, present=False, note=f"the engine was not asked: {error}") for i in ids}
    known = {info.id: info for info in listed}
    facts = {}
    for image_id in ids:
        info = known.get(image_id)
        facts[image_id] = (
            ImageFacts(image_id=image_id, present=False, note="removed from the engine (gc)")
            if info is None
            else ImageFacts(
                image_id=image_id,
                present=True,
                size_bytes=info.size,
                tags=info.tags,
                labels=tuple(sorted(info.labels.items())),
            )
        )
    return facts


def work_lines(state: WatchState, running: list[Orphan]) -> tuple[str, ...]:
    """What is running (run folders whose owner is at work) and what the watcher has queued."""
    lines = [
        f"running: run {o.run_id}, commit {o.facts.get('commit', '?')[:12]}, level {o.facts.get('level', '?')}"
        + (f", since {o.facts['started']}" if "started" in o.facts else "")
        for o in running
    ]
    if state.bisecting is not None:
        b = state.bisecting
        lines.append(f"bisecting {b.good[:12]}..{b.bad[:12]} at the {b.level} level")
    lines += [f"queued: {sha[:12]}" for sha in state.queue]
    return tuple(lines)

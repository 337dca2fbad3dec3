"""What the report is made from: the store's records and what the outside systems add to them
(the upstream timeline, the engine's image facts, the media made from the videos, the impact
reports). Values only: ops/report.py gathers them, site/pages.py turns them into pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.model import BisectSession, BisectStep, Commit, Pointer, Release, RunRecord


@dataclass(frozen=True, kw_only=True)
class ImageFacts:
    """A commit image as the engine tells it (labels never change for an id: cached)."""

    image_id: str
    present: bool  # False: removed by gc (or the engine could not be asked: see `note`)
    size_bytes: int = 0
    tags: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class CaseMedia:
    """A case's video as the site shows it: paths relative to the site's root ("" none)."""

    sheet: str = ""  # the contact sheet (PNG)
    video: str = ""  # the video a browser plays (the run's own, or a web copy of it)
    note: str = ""  # why there is no sheet or no video


@dataclass(frozen=True, kw_only=True)
class RunFiles:
    """A run's files copied into the site: (label, path relative to the site's root)."""

    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Impact:
    """A culprit's impact report (impact.json as `diff --out` writes it), or why there is none."""

    doc: Mapping[str, object] = field(default_factory=dict)
    markdown: str = ""  # impact.md's text (shown whole on the bisect page)
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Bisect:
    session: BisectSession
    steps: tuple[BisectStep, ...]
    impact: Impact | None  # None: no culprit named


@dataclass(frozen=True, kw_only=True)
class SiteInput:
    title: str
    ref: str  # the upstream ref the timeline follows
    timeline: tuple[Commit, ...]  # its first-parent history, newest first (bounded)
    commits: Mapping[str, Commit]  # every commit a page names (the timeline's and the runs')
    runs: tuple[RunRecord, ...]  # newest first
    releases: tuple[Release, ...]  # oldest first
    last_good: Pointer | None
    bisects: tuple[Bisect, ...]  # newest first
    images: Mapping[str, ImageFacts]
    media: Mapping[tuple[str, str], CaseMedia]  # (run id, case id)
    files: Mapping[str, RunFiles]  # run id
    work: tuple[str, ...] = ()  # running and queued work, one line each

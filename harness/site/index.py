"""The index page (pure): upstream's first-parent timeline, newest first, with each commit's
verdict per level, the production and last-good markers, the releases, the bisects and the work
running or queued. The verdict filter is CSS only (radio buttons): no script on any page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from harness.model import LEVELS, Commit, Release, RunRecord
from harness.site.facts import Bisect, SiteInput
from harness.site.refs import Context, Page, bisect_page, commit_ref, run_ref, short_image


def latest_by_level(runs: Iterable[RunRecord]) -> dict[str, dict[str, RunRecord]]:
    """commit -> level -> its newest run (`runs` come newest first)."""
    latest: dict[str, dict[str, RunRecord]] = {}
    for record in runs:
        latest.setdefault(record.commit, {}).setdefault(record.level, record)
    return latest


def markers(releases: tuple[Release, ...], last_good: str) -> dict[str, list[str]]:
    marks: dict[str, list[str]] = {}
    if releases:
        marks.setdefault(releases[-1].commit, []).append("production")
    if last_good:
        marks.setdefault(last_good, []).append("last-good")
    return marks


def _row(
    sha: str, inp: SiteInput, latest: Mapping[str, dict[str, RunRecord]], marks: Mapping[str, list[str]]
) -> Context:
    by_level = latest.get(sha, {})
    cells = [run_ref(by_level[level]) if level in by_level else None for level in LEVELS]
    commit = inp.commits.get(sha)
    return {
        **commit_ref(inp.commits, sha),
        "date": commit.date if commit else "",
        "author": commit.author if commit else "",
        "cells": cells,
        "marks": marks.get(sha, []),
        "classes": sorted({f"has-{c['verdict']}" for c in cells if c}) or ["has-none"],
    }


def _release(release: Release, commits: Mapping[str, Commit]) -> Context:
    return {
        "revision": release.revision,
        "action": release.action,
        "commit": commit_ref(commits, release.commit),
        "image": short_image(release.image_id),
        "digest": release.image_digest,  # on a fleet: the registry digest the service was rolled to
        "created": release.created,
        "user": release.user,
        "reason": release.reason,
        "forced": release.forced,
    }


def bisect_row(b: Bisect, commits: Mapping[str, Commit]) -> Context:
    first_bad = str(b.session.answer.get("first_bad") or "")
    return {
        "id": b.session.id,
        "href": bisect_page(b.session.id),
        "good": commit_ref(commits, b.session.good),
        "bad": commit_ref(commits, b.session.bad),
        "level": b.session.level,
        "started": b.session.started,
        "finished": b.session.finished,
        "culprit": commit_ref(commits, first_bad) if first_bad else None,
        "steps": len(b.steps),
    }


def _others(inp: SiteInput) -> list[str]:
    """Commits with runs that the timeline does not show (another branch, or older), newest run first."""
    shown = {c.sha for c in inp.timeline}
    newest: dict[str, str] = {}
    for record in inp.runs:
        if record.commit not in shown:
            newest[record.commit] = max(newest.get(record.commit, ""), record.started)
    return sorted(newest, key=lambda sha: (newest[sha], sha), reverse=True)


def index_page(inp: SiteInput) -> Page:
    latest = latest_by_level(inp.runs)
    marks = markers(inp.releases, inp.last_good.commit if inp.last_good else "")
    return Page(
        path="index.html",
        template="index.html.j2",
        context={
            "title": inp.title,
            "ref": inp.ref,
            "levels": list(LEVELS),
            "verdicts": sorted({r.verdict.value for r in inp.runs}),
            "rows": [_row(c.sha, inp, latest, marks) for c in inp.timeline],
            "others": [_row(sha, inp, latest, marks) for sha in _others(inp)],
            "releases": [_release(r, inp.commits) for r in reversed(inp.releases)],
            "bisects": [bisect_row(b, inp.commits) for b in inp.bisects],
            "work": list(inp.work),
            "runs": len(inp.runs),
        },
    )

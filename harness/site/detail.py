"""Run, commit and bisect pages (pure): what one run did per case (contact sheet, video, numbers,
drift against the run it was compared with), every run and image of a commit, and a bisect's
steps with its culprit's impact report."""

from __future__ import annotations

import math

from harness.lock import BASE_LABEL, HOW_LABEL, LOCK_LABEL, Lock
from harness.model import CaseResult, RunRecord
from harness.site.facts import Bisect, CaseMedia, ImageFacts, Impact, SiteInput
from harness.site.index import bisect_row
from harness.site.refs import Context, Page, bisect_page, commit_page, commit_ref, run_page, run_ref, short_image

PIP_FREEZE = "harness.pip-freeze"


def _num(value: float | None, unit: str, digits: int = 1) -> str:
    if value is not None and math.isinf(value):
        return f"∞ {unit} (identical)"
    return "" if value is None else f"{value:.{digits}f} {unit}"


def _bytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _video(case: CaseResult) -> Context:
    v = case.video
    if v is None:
        return {"frames": "", "resolution": "", "size": ""}
    return {
        "frames": str(v.frames) if v.decodes else "",
        "resolution": f"{v.width}x{v.height}" if v.decodes else "",
        "size": _bytes(v.size_bytes) if v.exists else "",
    }


def _reference(case: CaseResult, inp: SiteInput) -> Context | None:
    if case.drift_psnr is None:
        return None
    ref = inp.media.get((case.drift_ref, case.case_id)) if case.drift_ref else None
    return {
        "run": case.drift_ref,
        "href": run_page(case.drift_ref) if ref else "",
        "sheet": ref.sheet if ref else "",
        "note": "" if case.drift_ref else "the compared run was not recorded (a run from an older harness)",
    }


def _case(record: RunRecord, case: CaseResult, inp: SiteInput) -> Context:
    own = inp.media.get((record.run_id, case.case_id), CaseMedia(note="no video recorded"))
    return {
        "id": case.case_id,
        "model": case.model,
        "verdict": case.verdict.value,
        "reasons": list(case.reasons),
        "notes": list(case.notes),
        "error": case.error,
        **_video(case),
        "generation": _num(case.generation_time, "s"),
        "vram_peak": _num(case.gpu_peak_mib, "MiB", 0),
        "utilisation": _num(case.gpu_util_mean, "%", 0),
        "psnr": _num(case.drift_psnr, "dB"),
        "sheet": own.sheet,
        "video_src": own.video,
        "video_type": "video/webm" if own.video.endswith(".webm") else "video/mp4",
        "media_note": own.note,
        "reference": _reference(case, inp),
    }


def run_page_of(record: RunRecord, inp: SiteInput) -> Page:
    files = inp.files.get(record.run_id)
    return Page(
        path=run_page(record.run_id),
        template="run.html.j2",
        context={
            "title": inp.title,
            "run": {
                **run_ref(record),
                "commit": commit_ref(inp.commits, record.commit),
                "wrapper": record.wrapper,
                "suite": record.suite,
                "image_tag": record.image_tag,
                "image": short_image(record.image_id),
                "node": record.node,  # on a fleet: the Swarm node that ran it ("" locally)
                "digest": record.image_digest,  # on a fleet: the registry digest the node pulled
                "build": _num(record.build_seconds, "s"),
                "duration": _num(record.run_seconds, "s"),
            },
            "cases": [_case(record, c, inp) for c in record.cases],
            "files": [{"label": label, "href": href} for label, href in (files.links if files else ())],
        },
    )


def _image(facts: ImageFacts | None, image_id: str) -> Context:
    labels = dict(facts.labels) if facts else {}
    freeze = labels.pop(PIP_FREEZE, "")
    lock = Lock.parse(labels.pop(LOCK_LABEL, ""))
    base = labels.get(BASE_LABEL, "")
    return {
        "id": image_id,
        "short": short_image(image_id),
        "present": facts.present if facts else False,
        "note": facts.note if facts else "not asked",
        "size": f"{facts.size_bytes / 1e6:.1f} MB" if facts and facts.size_bytes else "",
        "tags": list(facts.tags) if facts else [],
        "labels": sorted(labels.items()),
        "freeze": freeze.split(),
        "lock": [line for _, line in lock.pins],
        "lock_origin": f"delta from deps {base[:16]}" if base else labels.get(HOW_LABEL, ""),
    }


def commit_page_of(sha: str, runs: list[RunRecord], inp: SiteInput) -> Page:
    images = list(dict.fromkeys(r.image_id for r in runs if r.image_id))
    contract = next((r for r in runs if r.level == "contract"), None)
    commit = inp.commits.get(sha)
    return Page(
        path=commit_page(sha),
        template="commit.html.j2",
        context={
            "title": inp.title,
            "commit": {
                **commit_ref(inp.commits, sha),
                "message": commit.message if commit else "",
                "author": commit.author if commit else "",
                "date": commit.date if commit else "",
            },
            "runs": [run_ref(r) | {"node": r.node} for r in runs],
            "fleet": any(r.node for r in runs),  # the runs table gets a node column
            "images": [_image(inp.images.get(i), i) | {"digests": _digests(runs, i)} for i in images],
            "contract": None if contract is None else {**run_ref(contract), "reasons": _reasons(contract)},
        },
    )


def _digests(runs: list[RunRecord], image_id: str) -> list[str]:
    """The registry digests the image's runs were pulled as on a fleet (one, unless pushed anew)."""
    return list(dict.fromkeys(r.image_digest for r in runs if r.image_id == image_id and r.image_digest))


def _reasons(record: RunRecord) -> list[str]:
    return [f"{c.case_id}: {reason}" for c in record.cases for reason in c.reasons]


def _impact(impact: Impact | None) -> Context | None:
    if impact is None:
        return None
    doc = impact.doc
    reqs = doc.get("requirements")
    reqs = reqs if isinstance(reqs, dict) else {}
    contract = doc.get("contract")
    return {
        "error": impact.error,
        "markdown": impact.markdown,
        "checklist": [str(x) for x in _list(doc.get("checklist"))],
        "files": [" ".join(map(str, f)) if isinstance(f, list) else str(f) for f in _list(doc.get("files"))],
        "holds": contract.get("holds") if isinstance(contract, dict) else None,
        "requirements": [f"added {x}" for x in _list(reqs.get("added"))]
        + [f"removed {x}" for x in _list(reqs.get("removed"))]
        + [f"{r[1]} -> {r[2]}" for r in _list(reqs.get("repinned")) if isinstance(r, list) and len(r) == 3],
    }


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def bisect_page_of(b: Bisect, inp: SiteInput) -> Page:
    recorded = {r.run_id for r in inp.runs}
    steps = [
        {
            "commit": commit_ref(inp.commits, s.commit),
            "verdict": s.verdict.value,
            "source": s.source,
            "seconds": f"{s.seconds:.1f}",
            "run": run_page(s.run_id) if s.run_id in recorded else "",
            "summary": s.summary,
        }
        for s in b.steps
    ]
    reason = {"reason": b.session.reason, "case": b.session.case, "side": b.session.side, "fixed": b.session.fixed}
    return Page(
        path=bisect_page(b.session.id),
        template="bisect.html.j2",
        context={
            "title": inp.title,
            "bisect": {**bisect_row(b, inp.commits), **reason},
            "steps": steps,
            "impact": _impact(b.impact),
        },
    )


def named_commits(inp: SiteInput) -> set[str]:
    """Every commit some page links to: each gets a page (one with no run says so)."""
    named = {c.sha for c in inp.timeline} | {r.commit for r in inp.runs} | {r.commit for r in inp.releases}
    for b in inp.bisects:
        named |= {b.session.good, b.session.bad, str(b.session.answer.get("first_bad") or "")}
        named |= {s.commit for s in b.steps}
    if inp.last_good is not None:
        named.add(inp.last_good.commit)
    return named - {""}


def detail_pages(inp: SiteInput) -> list[Page]:
    by_commit: dict[str, list[RunRecord]] = {}
    for record in inp.runs:
        by_commit.setdefault(record.commit, []).append(record)
    return [
        *(run_page_of(r, inp) for r in inp.runs),
        *(commit_page_of(sha, by_commit.get(sha, []), inp) for sha in sorted(named_commits(inp))),
        *(bisect_page_of(b, inp) for b in inp.bisects),
    ]

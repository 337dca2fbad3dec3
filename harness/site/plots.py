"""The plots' data (pure): per case, generation time, VRAM peak and PSNR drift across upstream's
first-parent commits (oldest left), from each commit's newest baseline run; per commit, build time
and image size. A commit without the measure leaves a gap, never a zero."""

from __future__ import annotations

from collections.abc import Callable

from harness.model import CaseResult, RunRecord
from harness.site.facts import SiteInput
from harness.site.index import latest_by_level
from harness.site.refs import run_page
from harness.site.svg import Plot, Series

CaseMeasure = Callable[[CaseResult], float | None]
CASE_MEASURES: tuple[tuple[str, str, CaseMeasure], ...] = (
    ("generation time", "s", lambda c: c.generation_time if c.video is not None and c.video.decodes else None),
    ("VRAM peak", "MiB", lambda c: c.gpu_peak_mib),
    ("PSNR drift against last-good", "dB", lambda c: c.drift_psnr),
)


def _case_plot(
    title: str, unit: str, measure: CaseMeasure, runs: list[RunRecord | None], labels: tuple[str, ...]
) -> Plot:
    case_ids = list(dict.fromkeys(c.case_id for r in runs if r for c in r.cases))
    series = []
    for case_id in case_ids:
        points: list[tuple[int, float | None]] = []
        hrefs: list[str] = []
        for x, record in enumerate(runs):
            case = next((c for c in record.cases if c.case_id == case_id), None) if record else None
            points.append((x, measure(case) if case else None))
            hrefs.append(run_page(record.run_id) if record else "")
        series.append(Series(name=case_id, points=tuple(points), href=tuple(hrefs)))
    return Plot(title=title, unit=unit, series=tuple(series), x_labels=labels)


def plots(inp: SiteInput) -> list[Plot]:
    commits = [c.sha for c in reversed(inp.timeline)]  # oldest first: time runs left to right
    labels = tuple(sha[:7] for sha in commits)
    latest = latest_by_level(inp.runs)
    baselines = [latest.get(sha, {}).get("baseline") for sha in commits]
    by_commit: dict[str, list[RunRecord]] = {}
    for record in inp.runs:
        by_commit.setdefault(record.commit, []).append(record)
    built = [max((r.build_seconds for r in by_commit.get(sha, [])), default=None) for sha in commits]
    newest = [by_commit[sha][0] if sha in by_commit else None for sha in commits]
    sizes = [_size_mb(inp, r) for r in newest]
    return [
        *(_case_plot(title, unit, measure, baselines, labels) for title, unit, measure in CASE_MEASURES),
        _commit_plot("build time", "s", built, labels),
        _commit_plot("image size", "MB", sizes, labels),
    ]


def _size_mb(inp: SiteInput, record: RunRecord | None) -> float | None:
    facts = inp.images.get(record.image_id) if record else None
    return facts.size_bytes / 1e6 if facts and facts.size_bytes else None


def _commit_plot(title: str, unit: str, values: list[float | None], labels: tuple[str, ...]) -> Plot:
    points = tuple((x, v if v else None) for x, v in enumerate(values))
    return Plot(title=title, unit=unit, series=(Series(name=title, points=points),), x_labels=labels)

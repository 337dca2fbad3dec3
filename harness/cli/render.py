"""How a bisect reads: its steps table, the culprit with what it touched, and its JSON document."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.bisect import Symptom
from harness.bisect_log import step_dict
from harness.model import BisectStep, Verdict
from harness.ops.bisect import BisectReport
from harness.ops.culprit import Culprit, InsideMerge, inside_merge_dict
from harness.report import STYLE


def steps_table(steps: Iterable[BisectStep]) -> Table:
    table = Table(title="bisect steps")
    for column in ("#", "commit", "verdict", "source", "seconds", "run", "summary"):
        table.add_column(column, overflow="fold")
    for i, s in enumerate(steps, 1):
        table.add_row(
            str(i),
            s.commit[:12],
            f"[{STYLE[s.verdict]}]{s.verdict.value}[/]",
            s.source,
            f"{s.seconds:.1f}",
            escape(s.run_id),
            escape(s.summary),
        )
    return table


def bisect_doc(report: BisectReport, symptom: Symptom) -> dict[str, object]:
    return {
        "bisect": report.session.id,
        "commits": report.commits,
        "first_bad": report.answer.first_bad,
        "candidates": list(report.answer.candidates),
        "skipped": list(report.answer.skipped),
        "probes": [step_dict(s) for s in report.steps],
        "prefetched": list(report.prefetched),
        "culprit": dataclasses.asdict(report.culprit) if report.culprit else None,
        "symptom": {"reason": symptom.reason, "case": symptom.case},
        "inside_merge": inside_merge_dict(report.inside_merge) if report.inside_merge else None,
    }


def print_bisect(console: Console, report: BisectReport) -> None:
    """The steps, the counts, then the culprit (and the one inside each merge it names)."""
    console.print(steps_table(report.steps))
    fresh = sum(1 for s in report.steps if s.source == "fresh")
    also = f" (+{report.inside_merge.commits} inside the merge)" if report.inside_merge else ""
    console.print(
        f"{len(report.steps)} probes ({fresh} fresh) over {report.commits - 1} commits{also}; "
        f"skipped: {', '.join(s[:12] for s in report.answer.skipped) or 'none'}"
    )
    if report.culprit is None:
        console.print(
            f"[yellow]skips hide the exact culprit[/]: the first bad commit is one of "
            f"{', '.join(c[:12] for c in report.answer.candidates)}"
        )
        return
    print_culprit(console, "first bad commit", report.culprit)
    _print_inside(console, report.inside_merge)


def _print_inside(console: Console, inside: InsideMerge | None) -> None:
    while inside is not None:
        if inside.culprit is None:
            console.print(f"[yellow]inside the merge[/] {inside.merge[:12]}: {escape(inside.why_not)}", highlight=False)
            return
        console.print(
            f"inside the merge {inside.merge[:12]} ({inside.commits} commits from the merge base "
            f"{inside.base[:12]} to its second parent {inside.tip[:12]}):"
        )
        print_culprit(console, "first bad commit on the merged branch", inside.culprit)
        inside = inside.inside


def print_culprit(console: Console, title: str, c: Culprit) -> None:
    console.print(
        f"[{STYLE[Verdict.FAIL]}]{title}[/] {c.commit.sha} ({escape(c.commit.date)}, {escape(c.commit.author)})",
        highlight=False,
    )
    console.print(f"    {escape(c.commit.subject)}", highlight=False)
    console.print(
        "integration surface: " + (escape(", ".join(f"{p} +{a} -{d}" for p, a, d in c.integration)) or "untouched"),
        highlight=False,
    )
    console.print(f"diffstat: {len(c.files)} files, +{sum(f[1] for f in c.files)} -{sum(f[2] for f in c.files)}")
    r = c.requirements
    if not r.empty:
        changes = (
            [f"added {a}" for a in r.added]
            + [f"removed {x}" for x in r.removed]
            + [f"{n}: {o} -> {nw}" for n, o, nw in r.repinned]
            + [f"{sign}{o}" for sign, o in r.options]
        )
        console.print("requirements: " + escape("; ".join(changes)), highlight=False)

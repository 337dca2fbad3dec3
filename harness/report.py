"""Rendering for the terminal (rich) and for machines (JSON)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.model import RunRecord, Verdict

STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.ERROR: "bold yellow",
    Verdict.SKIP: "yellow",
    Verdict.FLAKY: "bold magenta",
}


def record_dict(record: RunRecord) -> dict[str, Any]:
    doc = dataclasses.asdict(record)
    doc["verdict"] = record.verdict.value
    for case, raw in zip(record.cases, doc["cases"], strict=True):
        raw["verdict"] = case.verdict.value
    return doc


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def verdict_table(record: RunRecord) -> Table:
    table = Table(title=f"run {record.run_id}  commit {record.commit[:12]}  suite {record.suite}")
    for column in ("case", "model", "verdict", "frames", "size", "gen s", "GPU peak", "why"):
        table.add_column(column, overflow="fold")
    for case in record.cases:
        video = case.video
        table.add_row(
            case.case_id,
            case.model,
            f"[{STYLE[case.verdict]}]{case.verdict.value.upper()}[/]",
            str(video.frames) if video and video.decodes else "-",
            f"{video.width}x{video.height}" if video and video.decodes else "-",
            f"{case.generation_time:.1f}",
            f"{case.gpu_peak_mib:.0f} MiB, {case.gpu_util_mean:.0f}%" if case.gpu_peak_mib is not None else "-",
            "; ".join(case.reasons + case.notes) or "ok",
        )
    return table


def print_record(console: Console, record: RunRecord) -> None:
    if record.cases:
        console.print(verdict_table(record))
    console.print(f"[{STYLE[record.verdict]}]{record.verdict.value.upper()}[/] ({record.level}) {record.summary}")
    if record.image_tag:
        console.print(
            f"image {record.image_tag} ({record.image_id[7:19]}), build {record.build_seconds:.1f} s, "
            f"run {record.run_seconds:.1f} s; files in {record.run_dir}"
        )


def history_table(records: list[RunRecord], unreachable: set[str] | None = None) -> Table:
    table = Table(title="runs, newest first")
    for column in ("run", "started", "commit", "verdict", "image", "summary"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.run_id,
            r.started,
            r.commit[:12] + (" (unreachable)" if r.commit in (unreachable or set()) else ""),
            f"[{STYLE[r.verdict]}]{r.verdict.value}[/]",
            r.image_id[7:19],
            r.summary,
        )
    return table

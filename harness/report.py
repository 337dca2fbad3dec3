"""Rendering for the terminal (rich) and for machines (JSON)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.lock import BASE_LABEL, HOW_LABEL, LOCK_LABEL, Lock
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
    wrapper = f"  wrapper {record.wrapper[:12]}" if record.wrapper else ""
    table = Table(title=escape(f"run {record.run_id}  commit {record.commit[:12]}{wrapper}  suite {record.suite}"))
    for column in ("case", "model", "verdict", "frames", "size", "gen s", "GPU peak", "why"):
        table.add_column(column, overflow="fold")
    for case in record.cases:
        video = case.video
        table.add_row(
            escape(case.case_id),
            escape(case.model),
            f"[{STYLE[case.verdict]}]{case.verdict.value.upper()}[/]",
            str(video.frames) if video and video.decodes else "-",
            f"{video.width}x{video.height}" if video and video.decodes else "-",
            f"{case.generation_time:.1f}",
            f"{case.gpu_peak_mib:.0f} MiB, {case.gpu_util_mean:.0f}%" if case.gpu_peak_mib is not None else "-",
            escape("; ".join(case.reasons + case.notes) or "ok"),
        )
    return table


def print_record(console: Console, record: RunRecord) -> None:
    if record.cases:
        console.print(verdict_table(record))
    console.print(
        f"[{STYLE[record.verdict]}]{record.verdict.value.upper()}[/] ({escape(record.level)}) {escape(record.summary)}"
    )
    if record.image_tag:
        console.print(
            escape(
                f"image {record.image_tag} ({record.image_id[7:19]}), build {record.build_seconds:.1f} s, "
                f"run {record.run_seconds:.1f} s; files in {record.run_dir}"
            )
        )
    if record.node or record.image_digest:
        console.print(escape(fleet_line(record)), highlight=False)


def fleet_line(record: RunRecord) -> str:
    """Where a fleet's run ran: its Swarm node, and the registry digest the node pulled."""
    return f"on the fleet: node {record.node or 'unknown'}, image digest {record.image_digest or 'unknown'}"


def lock_of(labels: Mapping[str, str]) -> str:
    return labels.get(LOCK_LABEL, "")


def lock_lines(labels: Mapping[str, str] | None, *, full: bool) -> list[str]:
    """What `show` says of a run image's deps lock (the commit image carries its deps image's labels)."""
    if labels is None:
        return ["deps lock: not known (the image is not on the engine, or the engine is down)"]
    lock = Lock.parse(lock_of(labels))
    if not lock:
        return ["deps lock: none (a deps image built before harness locked them)"]
    how, base = labels.get(HOW_LABEL, ""), labels.get(BASE_LABEL, "")
    origin = f"delta from deps {base[:16]}" if base else f"{how or 'clean'} from the env image"
    head = f"deps lock: {len(lock)} packages ({origin}, deps key {labels.get('harness.deps-key', '')[:16]})"
    return [head, *(f"  {line}" for _, line in lock.pins)] if full else [f"{head}; --lock lists them"]


def history_table(records: list[RunRecord], unreachable: set[str] | None = None) -> Table:
    table = Table(title="runs, newest first")
    for column in ("run", "started", "commit", "verdict", "image", "summary"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            escape(r.run_id),
            escape(r.started),
            r.commit[:12]
            + (f"+{r.wrapper[:8]}" if r.wrapper else "")
            + (" (unreachable)" if r.commit in (unreachable or set()) else ""),
            f"[{STYLE[r.verdict]}]{r.verdict.value}[/]",
            r.image_id[7:19],
            escape(r.summary),
        )
    return table


class Progress:
    """What runs now: a live status line on a terminal; without one (CI logs) a plain line
    every `interval_s` naming the step, its elapsed seconds and the last build/run line, so a
    long env build never looks hung."""

    def __init__(self, console: Console, *, interval_s: float, clock: Callable[[], float]) -> None:
        self.console, self.interval_s, self.clock = console, interval_s, clock
        self.live = console.status("")
        self.step, self.step_started, self.last_line = "", clock(), ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self, step: str) -> None:
        self.step, self.step_started, self.last_line = step, self.clock(), ""

    def update(self, line: str) -> None:
        self.last_line = line
        self.live.update(escape(line))

    def tick(self) -> None:
        elapsed = self.clock() - self.step_started
        tail = f": {self.last_line}" if self.last_line else ""
        self.console.print(
            f"    ... still working: {self.step or 'starting'} ({elapsed:.0f} s){tail}", markup=False, highlight=False
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self.live.start()
        else:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="harness-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        else:
            self.live.stop()


class ConsoleReporter:
    """Steps printed as they happen; build and run output in the progress line (every line
    with `verbose`). Everything printed is data: escaped, never read as rich markup."""

    def __init__(
        self,
        console: Console,
        verbose: bool,
        *,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console, self.verbose = console, verbose
        self.status = Progress(console, interval_s=interval_s, clock=clock)

    def step(self, text: str) -> None:
        self.status.started(text)
        self.console.print(f"[cyan]==>[/] {escape(text)}", highlight=False)

    def line(self, text: str) -> None:
        if self.verbose:
            self.console.print(f"    {text}", highlight=False, markup=False)
        if text.strip():
            self.status.update(text.strip()[:120])

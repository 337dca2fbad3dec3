"""Which videos watch's retention removes (pure): run folders older than `keep_days` lose their
videos; their records, logs, results.json and thumbnails stay.

Kept whole, whatever their age:
- runs of production's or last-good's image: last-good's videos are the reference every new
  run's drift (PSNR) is measured against (ops/gpu_checks.drift_reference), production's are what
  a person compares a rollback with;
- runs judged FAIL or FLAKY: the videos are the evidence of the failure (a bisect's culprit,
  an impact report, a flaky case's bad attempt).

ERROR and SKIP runs are not kept: infra judged nothing there (engine gone, no GPU, missing
weights), their folders rarely hold a whole video, and keeping them would let an outage that
repeats every cycle (escalation's case) fill the very disk a failing run may be short of.

A path the lister gives outside its run folder is never planned (the lister should not give one;
ops/prune.py's lists only regular files and never enters a symbolic link).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.model import RunRecord, Verdict
from harness.runfolder import RUN_ID

# What a run folder holds that is a video: the runner's outputs (out/*.mp4), the suite's inputs
# copied into in/ (guide and mask clips: the suite keeps its own). Thumbnails are images: kept.
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v"})
KEPT_VERDICTS = frozenset({Verdict.FAIL, Verdict.FLAKY})

FileLister = Callable[[Path], list[tuple[Path, int]]]  # run folder -> (file, bytes) inside it


@dataclass(frozen=True, kw_only=True)
class PrunePlan:
    remove: tuple[tuple[Path, int], ...]  # (video file, bytes)
    kept_runs: tuple[tuple[str, str], ...]  # (run id, why its videos stay): old runs that hold some


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def started_at(record: RunRecord) -> datetime.datetime | None:
    """When the run started: its record's time, else the one its run id begins with (UTC)."""
    for text, parse in ((record.started, datetime.datetime.fromisoformat), (record.run_id, _from_run_id)):
        try:
            when = parse(text)
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
    return None


def _from_run_id(run_id: str) -> datetime.datetime:
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(run_id)
    return datetime.datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S")


def _inside(path: Path, folder: str) -> bool:
    return path.is_relative_to(folder) and ".." not in path.parts


def why_kept(record: RunRecord, protected_images: dict[str, str]) -> str:
    """Why this run's videos stay whatever their age ("" when they may go)."""
    if record.image_id and record.image_id in protected_images:
        return protected_images[record.image_id]
    if record.verdict in KEPT_VERDICTS:
        return f"judged {record.verdict.value}"
    return ""


def plan_prune(
    records: Sequence[RunRecord],
    *,
    now: datetime.datetime,
    keep_days: int,
    protected_images: set[str] | dict[str, str],
    files: FileLister,
) -> PrunePlan:
    """The video files of run folders that started more than `keep_days` before `now` and are
    not protected (see the module's docstring), and the old runs whose videos stay with why.

    `protected_images` is a set of image ids, or image id -> why (e.g. "production"). A folder
    two records share is kept when either is protected or recent. A record whose start cannot be read
    (neither its time nor its run id) is left alone: its age is unknown.
    """
    why_image = protected_images if isinstance(protected_images, dict) else dict.fromkeys(protected_images, "")
    why_image = {image: why or f"image {image[7:19]} is protected" for image, why in why_image.items()}
    cutoff = now - datetime.timedelta(days=keep_days)
    folders: dict[str, str] = {}  # run folder -> why kept ("" none), in the records' order
    owners: dict[str, str] = {}  # run folder -> the run id it is reported under
    young: set[str] = set()  # folders of a record too recent (or of unknown age): left alone
    for record in records:
        when = started_at(record)
        if when is None or when > cutoff:
            young.add(record.run_dir)
            continue
        owners.setdefault(record.run_dir, record.run_id)
        folders[record.run_dir] = folders.get(record.run_dir) or why_kept(record, why_image)
    remove: list[tuple[Path, int]] = []
    kept: list[tuple[str, str]] = []
    for folder, why in folders.items():
        if not folder or folder in young:
            continue
        videos = [(p, n) for p, n in files(Path(folder)) if is_video(p) and _inside(p, folder)]
        if why and videos:
            kept.append((owners[folder], why))
        elif not why:
            remove += videos
    return PrunePlan(remove=tuple(remove), kept_runs=tuple(kept))

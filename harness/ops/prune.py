"""Watch's daily video pruning: apply harness/prune.py's plan to the state's run folders.

A run folder holds what the commit's code wrote (out/) and may hold symbolic links (a link
from upstream's content, one the container made): nothing here follows one. The lister walks
real folders only and lists regular files only; each file is checked again just before it goes
(still a regular file, its folder still inside the run folder), and run folders outside the
state's runs/ (whatever a record says) are never looked into.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.naming import LAST_GOOD
from harness.ports import StateStore
from harness.prune import FileLister, is_video, plan_prune


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    removed: int  # video files removed
    freed_bytes: int
    kept: tuple[tuple[str, str], ...]  # (run id, why its videos stay): old runs that still hold some
    failed: tuple[str, ...] = ()  # files that could not be removed, with why


def run_files(run_dir: Path) -> list[tuple[Path, int]]:
    """The regular files under `run_dir` with their sizes; symbolic links are neither listed nor
    entered (a link to a folder outside would list that folder's files as the run's)."""
    found: list[tuple[Path, int]] = []
    try:
        if not stat.S_ISDIR(os.lstat(run_dir).st_mode):
            return found  # the run folder itself replaced by a link (or a file): not a run folder
    except OSError:
        return found
    pending = [run_dir]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # removed meanwhile, or unreadable: nothing of it goes
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                try:
                    found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_size))
                except OSError:
                    continue
    return sorted(found)


def prune_videos(
    store: StateStore,
    *,
    now: datetime.datetime,
    keep_days: int,
    runs_root: Path,
    remove: Callable[[Path], None] = Path.unlink,
    list_files: FileLister = run_files,
) -> PruneReport:
    """Remove the videos of runs older than `keep_days` except production's, last-good's and
    failing runs' (harness/prune.py); idempotent: a second prune finds nothing left to remove.

    `runs_root` is the state's runs/ folder: a record whose folder lies elsewhere is skipped.
    """
    protected: dict[str, str] = {}
    production = store.production()
    if production is not None:
        protected[production.image_id] = f"production (revision {production.revision})"
    last_good = store.pointer(LAST_GOOD)
    if last_good is not None:
        protected.setdefault(last_good.image_id, "last-good")
    root = os.path.realpath(runs_root)
    folder_of: dict[Path, str] = {}  # each listed file -> its run folder (links resolved)

    def listed(run_dir: Path) -> list[tuple[Path, int]]:
        if not _under(run_dir, root):
            return []
        found = list_files(run_dir)
        folder_of.update((path, os.path.realpath(run_dir)) for path, _ in found)
        return found

    plan = plan_prune(
        store.runs(limit=1_000_000), now=now, keep_days=keep_days, protected_images=protected, files=listed
    )
    removed, freed, failed = 0, 0, []
    for path, size in plan.remove:
        if not _still_a_video(path, folder_of[path]):
            continue
        try:
            remove(path)
        except FileNotFoundError:
            continue  # gone meanwhile: nothing to free
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
            continue
        removed, freed = removed + 1, freed + size
    return PruneReport(removed=removed, freed_bytes=freed, kept=plan.kept_runs, failed=tuple(failed))


def _under(run_dir: Path, root: str) -> bool:
    """`run_dir` is a real folder inside `root` (the link-free path of the state's runs/)."""
    real = os.path.realpath(run_dir)
    return real != root and Path(real).is_relative_to(root) and not os.path.islink(run_dir)


def _still_a_video(path: Path, run_dir: str) -> bool:
    """Checked again right before removal: a regular file whose folder (links resolved) is still
    inside its run folder: a folder swapped for a link since the listing is not followed out."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False  # replaced by a link (or a folder) since it was listed
    except FileNotFoundError:
        pass  # gone: `remove` says so, and it counts as nothing removed
    except OSError:
        return False
    return is_video(path) and Path(os.path.realpath(path.parent)).is_relative_to(run_dir)

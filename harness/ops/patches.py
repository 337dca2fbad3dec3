"""patches refresh: carry the wrapper's patch series to a newer upstream commit, for review.

Each patch is applied in order to the tree at REF with the earlier ones applied: as is, or
else by a 3-way merge from the blobs its `index` lines name (`git am -3`). Each patch that
goes on is rewritten as the diff it makes there, under its own name and mail header. Only
when every patch goes on is the series written, in one move: a series with a hole in it must
never sit in a folder looking usable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import PatchConflict, UsageError
from harness.model import Commit
from harness.patches import SUFFIXES, Patch, PatchSeries, files_touched, refreshed_text, series_text
from harness.ports import PatchTrees

# applied: as is; refreshed: by 3-way only; empty: it changes nothing at REF (upstream took it),
# so it is left out of the series; conflict: neither way (file and hunk named).
Outcome = Literal["applied", "refreshed", "empty", "conflict"]


@dataclass(frozen=True, kw_only=True)
class PatchOutcome:
    patch: str
    outcome: Outcome
    files: tuple[str, ...]  # what the patch touches, upstream-relative
    file: str = ""  # conflict: where git stopped
    hunk: str = ""
    detail: str = ""  # conflict: git's words


@dataclass(frozen=True, kw_only=True)
class RefreshReport:
    commit: Commit
    out_dir: Path | None  # where the refreshed series is; None: not written (a patch conflicts)
    patches: tuple[PatchOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(p.outcome != "conflict" for p in self.patches)


def default_out_dir(state_dir: Path, commit: Commit) -> Path:
    return state_dir / f"patches-refreshed-{commit.sha[:12]}"


def refresh(
    trees: PatchTrees, ref: str, series: PatchSeries, *, out_dir: Path | None, state_dir: Path
) -> RefreshReport:
    """Carry `series` to upstream `ref`; write it to `out_dir` (default: in the state folder)
    when every patch goes on. A patch that conflicts is reported and later ones are still tried
    (without it), so one run lists every patch that needs a hand."""
    commit = trees.resolve(ref)
    target = out_dir or default_out_dir(state_dir, commit)
    _check_target(target)
    tree, outcomes, written = commit.sha, [], []
    for patch in series.patches:
        outcome, after, conflict = _carry(trees, tree, patch, commit.sha)
        diff = trees.diff_trees(tree, after, patch.prefixes()) if after is not None else ""
        if after is not None and not diff.strip():
            outcome = "empty"
        elif after is not None:
            written.append((patch, refreshed_text(patch, diff)))
        outcomes.append(_outcome(patch, outcome, conflict))
        tree = after or tree
    if any(o.outcome == "conflict" for o in outcomes):
        return RefreshReport(commit=commit, out_dir=None, patches=tuple(outcomes))
    note = f"refreshed by `harness patches refresh` onto upstream {commit.sha}: review each diff"
    _write(target, written, series_text(tuple(p for p, _ in written), note))
    return RefreshReport(commit=commit, out_dir=target, patches=tuple(outcomes))


def _carry(trees: PatchTrees, tree: str, patch: Patch, commit: str) -> tuple[Outcome, str | None, PatchConflict | None]:
    """How `patch` goes onto `tree` and the tree it makes; or the conflict, as the plain apply
    names it (the 3-way's words say less: `Applied patch ... with conflicts`)."""
    try:
        return "applied", trees.apply_patch(tree, patch, three_way=False, commit=commit), None
    except PatchConflict as exc:
        first = exc
    try:
        return "refreshed", trees.apply_patch(tree, patch, three_way=True, commit=commit), None
    except PatchConflict:
        return "conflict", None, first


def _outcome(patch: Patch, outcome: Outcome, conflict: PatchConflict | None) -> PatchOutcome:
    if conflict is None:
        return PatchOutcome(patch=patch.name, outcome=outcome, files=files_touched(patch))
    return PatchOutcome(
        patch=patch.name,
        outcome=outcome,
        files=files_touched(patch),
        file=conflict.file,
        hunk=conflict.hunk,
        detail=conflict.detail,
    )


def _check_target(target: Path) -> None:
    """The folder may be new, empty, or an earlier series (replaced whole); never other files."""
    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"--out {target}: a file, not a folder; give a folder for the refreshed series")
    foreign = [
        p.relative_to(target).as_posix()
        for p in target.rglob("*")
        if p.is_file() and p.name != "series" and not p.name.endswith(SUFFIXES)
    ]
    if foreign:
        raise UsageError(
            f"--out {target} holds files that are not a patch series ({', '.join(sorted(foreign)[:3])}): "
            "give an empty or new folder (a refreshed series replaces the folder whole)"
        )


def _write(target: Path, patches: list[tuple[Patch, str]], series: str) -> None:
    """Write into a sibling folder, then swap it in: a reader sees the old series or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for patch, text in patches:
            path = staging / patch.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
        (staging / "series").write_text(series)
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""Read what a test container left in its run folder without trusting it (issue 13): its
results.json parsed in one call (`read_output`), the output folder refused whole past its cap.

The commit's code writes the output folder, so any name there may be a FIFO (a plain open()
blocks forever), a symbolic link (to a host file harness would then read), a socket, or a
sparse file of a terabyte. Every file harness reads from a run folder goes through
`open_run_file`: opened non-blocking without following a final symlink, checked with fstat
to be a regular file, and refused past a size cap before a byte is read.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import BinaryIO

# results.json holds a few hundred bytes per case; 16 MiB is tens of thousands of cases with
# long error texts, and keeps parsing it (about 10x in Python objects) well under a GiB.
RESULTS_CAP = 16 << 20
# A test video is a few MiB (81 frames at 832x480); 2 GiB is far beyond any suite case.
VIDEO_CAP = 2 << 30
_CHUNK = 1 << 20
# results.json deeper than this is not the runner's schema (3 levels) and would cost the store,
# the report and json.dumps a recursion each.
MAX_RESULTS_DEPTH = 32


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class RunFileError(OSError):
    """A file of the run folder that harness will not read; the message says why."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def open_run_file(path: Path, cap: int) -> BinaryIO:
    """`path` opened for reading, once it is known to be a regular file of at most `cap` bytes.

    FileNotFoundError passes through (a missing file is the caller's case); anything else that
    is not a plain, small enough file raises RunFileError naming the file and the reason.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunFileError(f"{path.name} is a symbolic link (not followed)") from exc
        if exc.errno == errno.ENXIO:  # a socket (or a FIFO on some systems)
            raise RunFileError(f"{path.name} is not a regular file") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunFileError(f"{path.name} is not a regular file ({_kind(info.st_mode)})")
        if info.st_size > cap:
            raise RunFileError(f"{path.name} is {info.st_size:,} bytes, over the {_size(cap)} cap")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_run_file(path: Path, cap: int, *, deadline: float | None = None) -> bytes:
    """The bytes of a run-folder file (see open_run_file), read in chunks under `deadline`."""
    chunks: list[bytes] = []
    total = 0
    with open_run_file(path, cap) as handle:
        while chunk := handle.read(_CHUNK):
            total += len(chunk)
            if total > cap:  # it grew after the check (a process still writing it)
                raise RunFileError(f"{path.name} grew past the {_size(cap)} cap while being read")
            if deadline is not None and time.monotonic() > deadline:
                raise RunFileError(f"reading {path.name} passed the run's deadline")
            chunks.append(chunk)
    return b"".join(chunks)


def tree_bytes(folder: Path, stop_above: int) -> int:
    """Disk space a folder's files take (blocks, symlinks not followed), counted until it passes
    `stop_above`. Every entry counts at least a 4 KiB block, so a million empty files count too."""
    total = 0
    pending = [folder]
    while pending and total <= stop_above:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # removed meanwhile, or unreadable: nothing of it lands in the total
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += max(info.st_blocks * 512, 4096)
            if stat.S_ISDIR(info.st_mode):
                pending.append(Path(entry.path))
    return total


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 and not n % (1 << 30) else f"{n >> 20} MiB"


def _depth(doc: object) -> int:
    """Nesting depth of a parsed JSON value, without recursion (the point is deep input)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_RESULTS_DEPTH:
            children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def read_output(out_dir: Path, cap: int, deadline: float) -> tuple[dict[str, object] | None, str]:
    """What the run left: results.json parsed, or None and why it is refused ("" when there is none).
    An output folder past run.max_output_gib is refused whole (and removed) before anything is read."""
    too_much = _over_output_cap(out_dir, cap)
    if too_much:
        return None, too_much
    return _read_results(out_dir / "results.json", deadline)


def _read_results(path: Path, deadline: float) -> tuple[dict[str, object] | None, str]:
    """results.json parsed, or None and why it is refused ("" when there is none at all).

    The commit's code wrote the output folder, so a refused file (a FIFO, a symlink, past the
    cap, malformed, too deep) is what the commit produced: the caller judges it a FAIL.
    """
    try:
        raw = read_run_file(path, RESULTS_CAP, deadline=deadline)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, str(exc) if exc.errno is None else f"{path.name} cannot be read: {exc.strerror}"
    try:
        doc = json.loads(raw)
    except RecursionError:
        return None, f"{path.name} is nested too deep to parse"
    except ValueError as exc:
        return None, f"{path.name} is not valid JSON ({exc})"
    if not isinstance(doc, dict):
        return None, f"{path.name} is not a JSON object"
    if _depth(doc) > MAX_RESULTS_DEPTH:
        return None, f"{path.name} is nested deeper than {MAX_RESULTS_DEPTH} levels"
    return doc, ""


def _over_output_cap(out_dir: Path, cap: int) -> str:
    """Why the output folder is refused ("" when within run.max_output_gib); its files are removed
    then, so what the commit wrote past the cap does not stay on the state's disk."""
    if not cap or tree_bytes(out_dir, cap) <= cap:
        return ""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(exist_ok=True)
    return f"the run wrote more than {cap / 2**30:.3g} GiB into its output folder (run.max_output_gib); removed"

"""Whether a folder may be harness's state folder (pure but for reading the file system)."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

# The system's folders are never a state (`state_dir: /` wrote /state.db, /runs, /upstream.git);
# compared after resolving links, so /lib is refused where it is a link to /usr/lib.
SYSTEM_FOLDERS = (
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/local", "/usr/sbin", "/usr/share", "/var", "/var/lib", "/var/log", "/var/tmp",
)  # fmt: skip
# What harness makes in its state folder, the store or what may come before it (the mirror of
# `diff`, a crash report): an existing folder holding none of these, and not empty, is someone else's.
STATE_MARKERS = ("state.db", "upstream.git", "wrapper.git", "runs", "crashes")
WRAPPER_MIRRORS = "wrapper-*.git"  # `contract derive --wrapper` of a wrapper not configured: one per URL


def state_dir_problem(state_dir: Path) -> str | None:
    """Why `state_dir` cannot be harness's state folder, or None."""
    if state_dir in {Path(folder).resolve() for folder in SYSTEM_FOLDERS}:
        return f"{state_dir} is a system folder, never a state"
    existing = next(p for p in (state_dir, *state_dir.parents) if p.exists())
    if existing != state_dir:
        return _not_creatable(state_dir, existing)
    if not existing.is_dir():
        return f"{existing} is a file, so {state_dir} cannot be created there"
    if not os.access(existing, os.R_OK | os.W_OK | os.X_OK):
        return f"{state_dir} is not readable and writable"
    return _someone_elses(state_dir)


def _not_creatable(state_dir: Path, existing: Path) -> str | None:
    """Why `state_dir` cannot be made under `existing`, its nearest existing parent."""
    if not existing.is_dir():
        return f"{existing} is a file, so {state_dir} cannot be created there"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable, so {state_dir} cannot be created"
    return None


def _ours(name: str) -> bool:
    """A state marker, or a mirror's lock file: a command that stopped before cloning (--offline,
    no network) leaves only the lock, and the folder is still the one harness was given."""
    bare = name.removesuffix(".lock")
    return bare in STATE_MARKERS or fnmatch.fnmatchcase(bare, WRAPPER_MIRRORS)


def _someone_elses(state_dir: Path) -> str | None:
    """A folder holding files but no harness state is someone else's."""
    names = sorted(entry.name for entry in state_dir.iterdir())
    if any(_ours(name) for name in names):
        return None
    if not names:
        return None
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{state_dir} holds {shown} but no harness state (none of {', '.join(STATE_MARKERS)})"

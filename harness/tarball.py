"""Deterministic build contexts: sorted entries, uid/gid 0, fixed mtime, normalised modes.

The same inputs give the same bytes, so the engine's layer cache sees the same COPY
checksums and a context can be hashed or compared in tests.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from harness.errors import UnsafeTree
from harness.model import BuildSpec

FIXED_MTIME = 0
# Contexts mirror the image's filesystem, so one `COPY opt/ /opt/` adds everything in one step.
TREE_PREFIX = "opt/wan2gp/"
RUNNER_PREFIX = "opt/harness/harness_runner/"
_SYMLINK = 0o120000


@dataclass(frozen=True, kw_only=True)
class TreeEntry:
    path: str  # posix, relative
    mode: int  # git mode: 0o100644, 0o100755 or 0o120000 (symlink; data is the target)
    data: bytes


def unsafe_name(name: str) -> bool:
    """A tree entry name no checkout may write: git (fsck, checkout) and GitPython refuse these,
    so a tree holding one was crafted (`git hash-object --literally`). `.git` in any case, with
    the trailing dots, spaces and short name that NTFS ignores, would write into the repository."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return True
    return any(part.split(":", 1)[0].rstrip(" .").lower() in (".git", "git~1") for part in name.split("\\"))


def _info(name: str, *, size: int = 0, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if executable else 0o644
    return info


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


Payload = tuple[int, bytes | Path]  # (git mode, the bytes or the host file holding them)


def write_context(spec: BuildSpec, out: BinaryIO, tree: Iterable[TreeEntry] = ()) -> int:
    """Write the build context of `spec` as an uncompressed tar; returns the entry count."""
    entries = _entries(spec, tree)
    dirs = {parent for name in entries for parent in _parents(name)}
    dirs |= {name.rstrip("/") for name, (mode, _) in entries.items() if mode == 0o040755}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs | {n.rstrip("/") for n in entries}):
            if name in dirs:
                info = _info(name, executable=True)
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                _add(tar, name, *entries[name])
    return len(entries)


def _entries(spec: BuildSpec, tree: Iterable[TreeEntry]) -> dict[str, Payload]:
    """Archive name -> payload: the Dockerfile, the upstream tree, host folders, then spec files."""
    entries: dict[str, Payload] = {"Dockerfile": (0o100644, spec.dockerfile.encode())}
    for entry in tree:
        if any(unsafe_name(part) for part in entry.path.split("/")):  # `..` would land outside the tree root
            raise UnsafeTree("", (entry.path,))
        entries[f"{spec.tree_root}{entry.path}"] = (entry.mode, entry.data)
    for arcname, host_dir in spec.dirs:
        entries[f"{arcname}/"] = (0o040755, b"")
        entries.update(_host_files(arcname, Path(host_dir)))
    for arcname, host_file in spec.host_files:
        entries[arcname] = (0o100755, Path(host_file))
    for name, data in spec.files:  # spec files last: overlays win over the upstream tree
        entries[name] = (0o100644, data)
    return entries


def _host_files(arcname: str, root: Path) -> dict[str, Payload]:
    found: dict[str, Payload] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in filenames:
            path = Path(dirpath) / filename
            mode = 0o100755 if os.access(path, os.X_OK) else 0o100644
            found[f"{arcname}/{path.relative_to(root).as_posix()}"] = (mode, path)
    return found


def _add(tar: tarfile.TarFile, name: str, mode: int, payload: bytes | Path) -> None:
    """One file or symlink entry, owned by root with a fixed mtime."""
    if mode == _SYMLINK:
        info = _info(name)
        info.type = tarfile.SYMTYPE
        info.linkname = payload.decode() if isinstance(payload, bytes) else ""
        tar.addfile(info)
    elif isinstance(payload, Path):
        info = _info(name, size=payload.stat().st_size, executable=mode == 0o100755)
        with payload.open("rb") as fh:
            tar.addfile(info, fh)
    else:
        info = _info(name, size=len(payload), executable=mode == 0o100755)
        tar.addfile(info, io.BytesIO(payload))

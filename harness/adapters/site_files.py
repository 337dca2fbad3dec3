"""The report's folder on disk: pages written whole (a temporary name, then rename), run files
hard-linked in (copied across file systems), a manifest of what harness put there.

Run files come from folders a test container wrote: only a regular file that really lies in
its run folder is linked (a symbolic link there, or a folder of it that points elsewhere, could
otherwise put a host file in the site); a copy reads it through open_run_file. Only what the
manifest names is ever removed: other files in the folder are the user's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from harness.adapters.run_files import VIDEO_CAP, open_run_file

MANIFEST = ".harness-report.json"


class SiteFolder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _at(self, path: str) -> Path:
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"not a path inside the site: {path!r}")  # the planner's bug, never data
        return self.root.joinpath(*rel.parts)

    def manifest(self) -> dict[str, str]:
        try:
            doc = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}

    def exists(self, path: str) -> bool:
        return self._at(path).is_file()

    def write(self, path: str, text: str) -> None:
        target = self._at(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.new")
        staging.write_text(text, encoding="utf-8")
        staging.replace(target)

    def link(self, source: Path, path: str, *, within: Path) -> None:
        real = source.resolve()
        if not real.is_relative_to(within.resolve()):
            raise OSError(errno.EPERM, f"{source} lies outside its run folder (a link in it points elsewhere)")
        if not stat.S_ISREG(os.lstat(real).st_mode):
            raise OSError(errno.EPERM, f"{source} is not a regular file")
        target = self._at(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if os.path.samefile(real, target):
                return
        staging = target.with_name(f".{target.name}.new")
        staging.unlink(missing_ok=True)
        try:
            os.link(real, staging, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            with open_run_file(real, VIDEO_CAP) as handle, staging.open("wb") as out:
                shutil.copyfileobj(handle, out)  # another file system: a copy
        staging.replace(target)

    def remove(self, path: str) -> None:
        target = self._at(path)
        target.unlink(missing_ok=True)
        folder = target.parent
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()  # only when empty: a folder the user added files to stays
            except OSError:
                return
            folder = folder.parent

    def save_manifest(self, manifest: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write(MANIFEST, json.dumps(manifest, sort_keys=True, indent=0))

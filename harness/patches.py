"""Downstream patches (`wrapper.patches`): the series a wrapper keeps on top of upstream.

Pure but for `load_series`, which reads the folder. A series is a quilt `series` file (one
patch a line, `#` comments, an optional `-pN`) or, without one, every *.patch / *.diff sorted
by name (git format-patch's 0001-... order). Patches made in the wrapper's repository, where
upstream is vendored under `upstream_dir`, name `a/Wan2GP/wgp.py`: that folder is detected and
stripped too (git apply -p2), so the same patch applies to upstream's own tree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError, PatchConflict
from harness.patchtext import FileDiff, parse_files, preamble

if TYPE_CHECKING:
    from harness.config import WrapperConfig

KEY = "wrapper.patches"
SUFFIXES = (".patch", ".diff")
_FAILED_AT = re.compile(r"^error: patch failed: (?P<file>.+):(?P<line>\d+)$", re.M)
_FILE_ERROR = re.compile(r"^error: (?P<file>.+?): (?P<why>[^:\n]+)$", re.M)
_MERGE_CONFLICT = re.compile(r"^Applied patch to '(?P<file>.+)' with conflicts\.$", re.M)  # --3way
_STRIP = re.compile(r"-p(\d+)\Z")


@dataclass(frozen=True, kw_only=True)
class Patch:
    name: str  # as the series names it (a file of the folder)
    text: str  # undecodable bytes kept as surrogates (`encoded` gives them back)
    strip: int  # git apply -pN: the a/ b/ prefix plus `directory`
    directory: str = ""  # the wrapper's upstream folder its paths began with, or ""

    @property
    def encoded(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    @property
    def base_strip(self) -> int:
        """The -pN without the wrapper's folder: what the series file says (1 by default)."""
        return self.strip - (len(self.directory.split("/")) if self.directory else 0)

    def prefixes(self) -> tuple[str, str]:
        """(--src-prefix, --dst-prefix) that write an upstream diff the way this patch was
        written (inside the wrapper's folder, with or without a/ b/); more than one leading
        folder to strip (-p3) cannot be guessed back, so those get a/ b/ (see `series_text`)."""
        folder = f"{self.directory}/" if self.directory else ""
        src, dst = ("a/", "b/") if self.base_strip else ("", "")
        return src + folder, dst + folder

    def files(self) -> tuple[FileDiff, ...]:
        return parse_files(self.text, self.strip)


@dataclass(frozen=True, kw_only=True)
class PatchSeries:
    folder: Path
    patches: tuple[Patch, ...]


def series_digest(series: PatchSeries) -> str:
    """Content address of the series (names, strips, texts; not the folder it was read from)."""
    doc = [[p.name, p.strip, p.text] for p in series.patches]
    return hashlib.sha256(json.dumps(doc, ensure_ascii=True).encode()).hexdigest()


def files_touched(patch: Patch) -> tuple[str, ...]:
    """Every upstream-relative path the patch reads or writes (both names of a rename), sorted."""
    return tuple(sorted({p for f in patch.files() for p in (f.old, f.new) if p}))


def series_for(wrapper: WrapperConfig | None) -> PatchSeries | None:
    """The configured series (`wrapper.patches`), or None when there is none."""
    if wrapper is None or wrapper.patches is None:
        return None
    return load_series(wrapper.patches, wrapper.upstream_dir)


def load_series(folder: Path, upstream_dir: str) -> PatchSeries:
    """The series in `folder`; a ConfigError naming wrapper.patches when it cannot be used."""
    listing = folder / "series"
    if listing.is_file():
        source = str(listing)
        entries = parse_series(listing.read_text(encoding="utf-8", errors="replace"), source)
    else:
        source = str(folder)
        found = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
        if not found:
            raise ConfigError(source, KEY, "no `series` file and no *.patch or *.diff file in the folder")
        entries = tuple((name, None) for name in found)
    patches = []
    for name, strip in entries:
        path = folder / name
        if not path.is_file():
            raise ConfigError(source, KEY, f"the series names {name!r}, which is not a file in {folder}")
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        patches.append(make_patch(name, text, strip, upstream_dir, source=str(path)))
    return PatchSeries(folder=folder, patches=tuple(patches))


def parse_series(text: str, source: str) -> tuple[tuple[str, int | None], ...]:
    """(name, -pN or None) per line of a quilt series file."""
    entries: list[tuple[str, int | None]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        name, *options = line.split()
        strip = None
        for option in options:
            if not (match := _STRIP.match(option)):
                raise ConfigError(source, KEY, f"line {number}: option {option!r} is not supported (only -pN)")
            strip = int(match[1])
        if name.startswith("/") or ".." in name.split("/"):
            raise ConfigError(source, KEY, f"line {number}: {name!r} is outside the folder (a relative name, no ..)")
        if name in (n for n, _ in entries):
            raise ConfigError(source, KEY, f"line {number}: {name!r} is listed twice")
        entries.append((name, strip))
    if not entries:
        raise ConfigError(source, KEY, "the series file lists no patch")
    return tuple(entries)


def make_patch(name: str, text: str, strip: int | None, upstream_dir: str, *, source: str) -> Patch:
    """A patch, its -pN found: the series' (default 1), plus the wrapper's upstream folder
    when every path in it starts there (the patch was made in the wrapper's repository)."""
    base = 1 if strip is None else strip
    try:
        files = parse_files(text, base)
    except ValueError as exc:
        raise ConfigError(source, KEY, f"{name} is not a usable patch: {exc}") from exc
    if not files:
        raise ConfigError(source, KEY, f"{name} is not a patch: no file diff in it (`diff --git` or ---/+++ lines)")
    paths = {p for f in files for p in (f.old, f.new) if p}
    folder = upstream_dir.strip("/")
    inside = {p for p in paths if p.startswith(f"{folder}/")}
    if not inside:
        return Patch(name=name, text=text, strip=base)
    if inside != paths:
        outside = ", ".join(sorted(paths - inside)[:3])
        raise ConfigError(
            source, KEY, f"{name} changes files in {folder}/ and outside it ({outside}): a downstream patch "
            f"may change upstream's files only (keep the wrapper's own changes in its repository)",
        )  # fmt: skip
    return Patch(name=name, text=text, strip=base + len(folder.split("/")), directory=folder)


def apply_error_location(stderr: str, files: Collection[str]) -> tuple[str, int | None]:
    """(file, line) that `git apply` says failed: line is the failing hunk's old start
    (`error: patch failed: wgp.py:12`); ("", None) when git names none of the patch's files."""
    if match := _FAILED_AT.search(stderr):
        return match["file"], int(match["line"])
    for match in (*_FILE_ERROR.finditer(stderr), *_MERGE_CONFLICT.finditer(stderr)):
        if match["file"] in files:
            return match["file"], None
    return "", None


def hunk_at(files: tuple[FileDiff, ...], file: str, line: int | None) -> str:
    """The header of the hunk of `file` that starts at (else covers) `line`; "" when unknown."""
    hunks = [h for f in files if file in (f.old, f.new) for h in f.hunks]
    if line is not None:
        for match in ([h for h in hunks if h.old_start == line], [h for h in hunks if h.covers(line)]):
            if match:
                return match[0].header
    return ""


def conflict(patch: Patch, stderr: str, commit: str = "") -> PatchConflict | ConfigError:
    """What a failed `git apply` of `patch` means: a PatchConflict naming the file and hunk,
    or, when git names none of its files (`corrupt patch at line 9`), a defect of the patch."""
    files = patch.files()
    file, line = apply_error_location(stderr, {p for f in files for p in (f.old, f.new) if p})
    detail = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())[:400] or "git apply failed"
    if not file:
        return ConfigError(str(patch.name), KEY, f"git apply cannot read it: {detail}")
    return PatchConflict(patch=patch.name, file=file, hunk=hunk_at(files, file, line), detail=detail, commit=commit)


def refreshed_text(patch: Patch, diff: str) -> str:
    """The patch's own header (message, author; not its stale diffstat) over a new diff."""
    head = preamble(patch.text)
    return head + diff if diff.endswith("\n") or not diff else head + diff + "\n"


def series_text(patches: tuple[Patch, ...], note: str) -> str:
    """A quilt series file listing `patches` in order, `note` as its first (comment) line."""
    lines = [f"# {note}"]
    lines += [p.name if p.base_strip else f"{p.name} -p0" for p in patches]  # as `prefixes` wrote them
    return "\n".join(lines) + "\n"

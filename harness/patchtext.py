"""Reading a unified diff (git's or plain `diff -u`'s) as data: its files and hunks (pure).

Hunks are read by their line counts, as `git apply` reads them: a removed line that starts
with `-- ` inside a hunk is not taken for the next file's `--- ` header.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_META = re.compile(r"(rename|copy) (from|to) (.+)")


@dataclass(frozen=True, kw_only=True)
class Hunk:
    header: str  # the whole `@@ -12,7 +12,8 @@ def generate_video` line
    old_start: int
    old_len: int

    def covers(self, line: int) -> bool:
        return self.old_start <= line < self.old_start + max(self.old_len, 1)


@dataclass(frozen=True, kw_only=True)
class FileDiff:
    old: str | None  # None: the file is created (/dev/null)
    new: str | None  # None: the file is deleted
    hunks: tuple[Hunk, ...]


@dataclass
class _File:
    old: str | None
    new: str | None
    dashes: bool = False  # its ---/+++ lines were read: a next pair starts another file
    hunks: list[Hunk] = field(default_factory=list)


def parse_files(text: str, strip: int) -> tuple[FileDiff, ...]:
    """The file diffs of a patch, paths with `strip` leading folders removed (git apply -pN).
    ValueError for a hunk cut short or holding a line no diff has, or a path too short."""
    lines = text.split("\n")
    files: list[_File] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            files.append(_File(*_git_names(line[len("diff --git ") :], strip)))
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _name(line[4:], strip), _name(lines[i + 1][4:], strip)
            if not files or files[-1].dashes:  # a plain diff, or its next file
                files.append(_File(old, new))
            files[-1].old, files[-1].new, files[-1].dashes = old, new, True
            i += 2
            continue
        elif files and (meta := _META.fullmatch(line)):
            # rename/copy names carry no a/ b/ prefix: git strips one folder fewer
            name = _strip(unquote(meta[3]), max(strip - 1, 0))
            if meta[2] == "from":
                files[-1].old = name
            else:
                files[-1].new = name
        elif files and (match := _HUNK.match(line)):
            hunk, i = _hunk(line, match, lines, i + 1)
            files[-1].hunks.append(hunk)
            continue
        i += 1
    return tuple(FileDiff(old=f.old, new=f.new, hunks=tuple(f.hunks)) for f in files)


def _hunk(header: str, match: re.Match[str], lines: list[str], i: int) -> tuple[Hunk, int]:
    """The hunk whose header matched, and the index of the line after its body."""
    old_len = 1 if match[2] is None else int(match[2])
    old_left, new_left = old_len, 1 if match[4] is None else int(match[4])
    while old_left > 0 or new_left > 0:
        if i >= len(lines) or (i == len(lines) - 1 and not lines[i]):
            raise ValueError(f"hunk {header.strip()!r} is cut short")
        body = lines[i]
        kind = body[:1] or " "  # an empty line is an empty context line (GNU diff writes them)
        if kind in " -":
            old_left -= 1
        if kind in " +":
            new_left -= 1
        if kind not in " -+\\" or old_left < 0 or new_left < 0:
            raise ValueError(f"hunk {header.strip()!r}: line {i + 1} does not fit its counts: {body[:60]!r}")
        i += 1
    if i < len(lines) and lines[i].startswith("\\"):  # `\ No newline at end of file`
        i += 1
    return Hunk(header=header.rstrip(), old_start=int(match[1]), old_len=old_len), i


def _name(raw: str, strip: int) -> str | None:
    """The path of a ---/+++ line (a tab ends it: plain diffs put a date after it)."""
    raw = raw.split("\t", 1)[0].rstrip("\r")
    return None if raw == "/dev/null" else _strip(unquote(raw), strip)


def _strip(path: str, strip: int) -> str:
    parts = [p for p in path.split("/") if p]
    if len(parts) <= strip:
        raise ValueError(f"path {path!r} has no {strip} leading folder(s) to strip (-p{strip})")
    return "/".join(parts[strip:])


def _git_names(rest: str, strip: int) -> tuple[str, str]:
    """The two names of `diff --git A B`. Unquoted names may hold spaces, so the split is the
    one whose two names agree after stripping (a rename's names come from its own lines)."""
    quoted = re.fullmatch(r'("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)', rest)
    if '"' in rest and quoted:
        return _strip(unquote(quoted[1]), strip), _strip(unquote(quoted[2]), strip)
    spaces = [i for i, c in enumerate(rest) if c == " "]
    splits = [(rest[:i], rest[i + 1 :]) for i in spaces]
    for old, new in splits:
        if len(old.split("/")) > strip and len(new.split("/")) > strip and _strip(old, strip) == _strip(new, strip):
            return _strip(old, strip), _strip(new, strip)
    if not splits:
        raise ValueError(f"`diff --git {rest}` does not name two files")
    old, new = splits[0]
    return _strip(old, strip), _strip(new, strip)


def preamble(text: str) -> str:
    """What comes before the first file diff: a format-patch mail (From, Subject, message) up
    to its `---` line, without the diffstat after it, which a refreshed diff makes stale."""
    lines = text.splitlines(keepends=True)
    head: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("diff --git ") or (
            line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")
        ):
            break
        head.append(line)
    if "---\n" in head:
        return "".join(head[: head.index("---\n") + 1])
    return "".join(head)


def unquote(name: str) -> str:
    """A path as git quotes it (`"a/caf\\303\\251"`) back to text."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    try:
        raw = ast.literal_eval("b" + name)
    except (ValueError, SyntaxError):
        return name[1:-1]
    return bytes(raw).decode("utf-8", "surrogateescape")

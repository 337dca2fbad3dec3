"""Requirement changes between two requirements.txt texts (pure).

One package may have several lines (per-platform markers, one wheel URL per Python version,
the same name spelled twice): every line is kept apart. Lines are paired old to new by
package name and environment marker; identical lines are unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
_MARKER = re.compile(r"\s*;\s*(.*)$")
_URL_MARKER = re.compile(r"\s+;\s*(.*)$")  # a URL may hold ';': its marker needs whitespace first (PEP 508)


@dataclass(frozen=True, kw_only=True)
class RequirementChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    repinned: tuple[tuple[str, str, str], ...]  # (name, old line, new line)
    options: tuple[tuple[str, str], ...]  # ("+" or "-", option line such as --extra-index-url)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.repinned or self.options)


@dataclass(frozen=True, kw_only=True)
class _Line:
    name: str  # PEP 503 normalised
    marker: str  # environment marker, whitespace and quotes normalised; "" when none
    text: str


def _marker(rest: str) -> str:
    match = (_URL_MARKER if rest.startswith("@") else _MARKER).search(rest)
    return " ".join(match[1].replace("'", '"').split()) if match else ""


def _parse(text: str) -> tuple[list[_Line], list[str]]:
    reqs: list[_Line] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = None if line.startswith("-") else _NAME.match(line)
        if match is None:
            options.append(line)
            continue
        name = re.sub(r"[-_.]+", "-", match[1]).lower()
        reqs.append(_Line(name=name, marker=_marker(match[3]), text=line))
    return reqs, options


def _without(lines: list[_Line], common: Counter[str]) -> list[_Line]:
    left, out = Counter(common), []
    for line in lines:
        if left[line.text] > 0:
            left[line.text] -= 1
        else:
            out.append(line)
    return out


def _pair(old: list[_Line], new: list[_Line]) -> tuple[list[tuple[_Line, _Line]], list[_Line], list[_Line]]:
    """Changed lines of one package: same marker first (in order), then a lone pair."""
    pairs = []
    for line in list(old):
        twin = next((n for n in new if n.marker == line.marker), None)
        if twin is not None:
            pairs.append((line, twin))
            old.remove(line)
            new.remove(twin)
    if len(old) == 1 and len(new) == 1:
        pairs.append((old.pop(), new.pop()))
    return pairs, old, new


def requirement_changes(old: str, new: str) -> RequirementChanges:
    before, old_options = _parse(old)
    after, new_options = _parse(new)
    common = Counter(line.text for line in before) & Counter(line.text for line in after)
    before, after = _without(before, common), _without(after, common)
    added: list[str] = []
    removed: list[str] = []
    repinned: list[tuple[str, str, str]] = []
    for name in sorted({line.name for line in before + after}):
        pairs, gone, new_lines = _pair([x for x in before if x.name == name], [x for x in after if x.name == name])
        repinned += [(name, o.text, n.text) for o, n in pairs]
        removed += [x.text for x in gone]
        added += [x.text for x in new_lines]
    return RequirementChanges(
        added=tuple(added),
        removed=tuple(removed),
        repinned=tuple(repinned),
        options=tuple(
            [("-", o) for o in sorted(set(old_options) - set(new_options))]
            + [("+", o) for o in sorted(set(new_options) - set(old_options))]
        ),
    )

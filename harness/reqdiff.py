"""Requirement changes between two requirements.txt texts (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


@dataclass(frozen=True, kw_only=True)
class RequirementChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    repinned: tuple[tuple[str, str, str], ...]  # (name, old spec, new spec)
    options: tuple[tuple[str, str], ...]  # ("+" or "-", option line such as --extra-index-url)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.repinned or self.options)


def _parse(text: str) -> tuple[dict[str, str], set[str]]:
    reqs: dict[str, str] = {}
    options: set[str] = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.add(line)
            continue
        match = _NAME.match(line)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()  # PEP 503 normalised
            reqs[name] = line
        else:
            options.add(line)
    return reqs, options


def requirement_changes(old: str, new: str) -> RequirementChanges:
    before, old_options = _parse(old)
    after, new_options = _parse(new)
    return RequirementChanges(
        added=tuple(after[n] for n in sorted(after.keys() - before.keys())),
        removed=tuple(before[n] for n in sorted(before.keys() - after.keys())),
        repinned=tuple((n, before[n], after[n]) for n in sorted(before.keys() & after.keys()) if before[n] != after[n]),
        options=tuple(
            [("-", o) for o in sorted(old_options - new_options)]
            + [("+", o) for o in sorted(new_options - old_options)]
        ),
    )

"""Deps locks (pure): the exact environment a deps image holds, and how far two of them are apart.

A lock lists every distribution of the image's environment, one `name==version` (or
`name @ url`) line each: the env image's torch family, the recipe's pre_install, and upstream's
requirements as uv resolved them against what the env already holds. It is the resolution of a
requirements set, made once per deps key and kept as the image's `harness.lock` label: a delta
build from another deps image and a clean build from the env image both end in exactly it.

Why not `uv pip compile`: compile resolves from indexes alone, and the env's torch comes from a
wheelhouse that is not in the image (CUDA wheels of GBs). uv's dry-run resolves against the
installed environment, as the install itself does; its changes applied to the freeze are the lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LOCK_LABEL = "harness.lock"
BASE_LABEL = "harness.deps-base"  # the harness.key of the deps image a delta was built FROM ("": the env image)
HOW_LABEL = "harness.deps-build"

_CHANGE = re.compile(r"^\s*([+-])\s+(\S.*?)\s*$")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """PEP 503's normalised project name: `PyYAML`, `pyyaml` and `py_yaml` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _entry(line: str) -> tuple[str, str] | None:
    """(canonical name, the pin with that name) of one freeze or dry-run line; None for anything
    else. One spelling, so `PyYAML==6` from a freeze and `pyyaml==6` from uv's output are equal."""
    line = line.strip()
    if not line or line.startswith(("#", "-")):
        return None
    match = _NAME.match(line)
    if not match or ("==" not in line and " @ " not in line):
        return None
    name = canonical(match[1])
    return name, name + line[match.end() :]


@dataclass(frozen=True, kw_only=True)
class Lock:
    """name -> pinned line, one per distribution; equal locks hold equal environments."""

    pins: tuple[tuple[str, str], ...]  # sorted by canonical name

    @classmethod
    def of(cls, lines: Iterable[str]) -> Lock:
        entries = dict(e for e in (_entry(line) for line in lines) if e is not None)
        return cls(pins=tuple(sorted(entries.items())))

    @classmethod
    def parse(cls, text: str) -> Lock:
        return cls.of(text.splitlines())

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for _, line in self.pins)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pins)

    def __len__(self) -> int:
        return len(self.pins)


def resolved(freeze: str, dry_run: str) -> Lock:
    """The environment after an install whose `uv pip install --dry-run` printed `dry_run`, taken
    on an environment whose `uv pip freeze` is `freeze`: ` - x==1` leaves, ` + x==2` comes."""
    pins = Lock.parse(freeze).as_dict()
    found = (_CHANGE.match(line) for line in dry_run.splitlines())
    changes = [(m[1], m[2]) for m in found if m]
    for sign, spec in sorted(changes, key=lambda c: c[0] == "+"):  # removals first: an upgrade is - then +
        entry = _entry(spec)
        if entry is None:
            continue
        if sign == "-":
            pins.pop(entry[0], None)
        else:
            pins[entry[0]] = entry[1]
    return Lock(pins=tuple(sorted(pins.items())))


def distance(a: Lock, b: Lock) -> int:
    """How many packages a sync from `a` to `b` installs or removes (a changed version counts once)."""
    left, right = a.as_dict(), b.as_dict()
    return sum(1 for name in left.keys() | right.keys() if left.get(name) != right.get(name))


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An image a deps build may start FROM: the env image (key "") or a deps image of the same env."""

    key: str
    image: str
    lock: Lock


def installs(a: Lock, b: Lock) -> int:
    """How many packages a sync from `a` to `b` downloads and installs (removals are cheap)."""
    left = a.as_dict()
    return sum(1 for name, line in b.pins if left.get(name) != line)


def closest(target: Lock, candidates: Sequence[Candidate]) -> Candidate | None:
    """The candidate with the fewest differing packages; on a tie the one with fewer to install
    (a removal is a whiteout, an install a download), then the env image (a chain no deeper),
    then the smaller key (the same choice on every host)."""
    ranked = sorted(candidates, key=lambda c: (distance(c.lock, target), installs(c.lock, target), c.key != "", c.key))
    return ranked[0] if ranked else None


def changes(base: Lock, target: Lock) -> tuple[Lock, tuple[str, ...]]:
    """What takes `base` to `target`: the pins to install (new or another version) and the
    names to uninstall. Packages both hold alike are never touched, wherever they live."""
    have = base.as_dict()
    install = Lock(pins=tuple((name, line) for name, line in target.pins if have.get(name) != line))
    return install, tuple(sorted(have.keys() - target.as_dict().keys()))


def mismatch(lock: Lock, freeze: str) -> tuple[str, ...]:
    """How the environment a sync left differs from the lock: empty when it is the lock exactly."""
    have, want = Lock.parse(freeze).as_dict(), lock.as_dict()
    extra = tuple(f"extra {have[n]}" for n in sorted(have.keys() - want.keys()))
    missing = tuple(f"missing {want[n]}" for n in sorted(want.keys() - have.keys()))
    other = tuple(f"{want[n]} but {have[n]}" for n in sorted(want.keys() & have.keys()) if want[n] != have[n])
    return extra + missing + other


def lock_summary(lock: Lock, previous: Mapping[str, str] | None = None) -> str:
    """One line for progress: size, and what changed from the base when there is one."""
    if previous is None:
        return f"{len(lock)} packages"
    now = lock.as_dict()
    added = sorted(now.keys() - previous.keys())
    removed = sorted(previous.keys() - now.keys())
    changed = sorted(n for n in now.keys() & previous.keys() if now[n] != previous[n])
    parts = [f"+{n}" for n in added] + [f"-{n}" for n in removed] + [f"~{n}" for n in changed]
    more = " ..." if len(parts) > 12 else ""
    return f"{len(lock)} packages; from its base: {' '.join(parts[:12]) or 'none'}{more}"

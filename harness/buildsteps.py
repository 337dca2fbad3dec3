"""Which build-step containers each build saw, kept in the state folder until they are gone.

The classic builder runs every Dockerfile step in a container of its own. A harness process
killed mid-build leaves its RUN step running (the engine goes on after its client is gone), an
engine stop leaves it stopped; either way nothing removes it. Those containers cannot carry
this process's session as test containers do: a step container's labels are the image's so far,
and labels are part of the classic builder's cache key, so a per-session label before a RUN
would rebuild every layer of every build. The env build's RUN steps carry no harness label at
all (the base image's), and a state label alone is also on any container a user starts from a
harness image. So each build writes the step containers the engine names ("Running in <id>")
to a journal of its own in the state folder, first line its session; `gc` of that state reaps
what a journal names once its session is dead (ops/gc.py), and nothing while it lives.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildFailed

JOURNALS = "builds"  # under the state folder
_ENDED = "ended"
_RUNNING_IN = re.compile(r"---> Running in ([0-9a-f]{12,64})")


@dataclass(frozen=True, kw_only=True)
class StepJournal:
    path: str
    session: str
    containers: tuple[str, ...]  # ids (12 hex digits or more) as the engine printed them
    ended: bool  # the build is over (its process may live on): what it names is left over


def step_container(line: str) -> str | None:
    """The container id a classic build line announces for a step, if any."""
    match = _RUNNING_IN.search(line)
    return match[1] if match else None


@contextmanager
def journal(state_dir: Path, session: str) -> Iterator[Callable[[str], None]]:
    """A journal for one build; yields `note(line)`, to be called with every build line.

    Removed when the build returns or fails in the engine (it removed its step containers
    itself: harness builds with forcerm); kept on anything else (engine gone, timeout, a
    signal), for `gc`, marked ended: a long-lived process (bisect, watch) goes on without it.
    Best effort: a state folder that cannot take it (a full disk) costs only the record,
    never the build.
    """
    path = state_dir / JOURNALS / f"{secrets.token_hex(8)}.steps"
    with suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{session}\n")

    def note(line: str) -> None:
        if (container := step_container(line)) is not None:
            with suppress(OSError), path.open("a") as handle:
                handle.write(f"{container}\n")

    done = False
    try:
        yield note
        done = True
    except BuildFailed:
        done = True
        raise
    finally:
        with suppress(OSError):
            if done:
                path.unlink(missing_ok=True)
            else:
                with path.open("a") as handle:
                    handle.write(f"{_ENDED}\n")


def read_journals(state_dir: Path) -> list[StepJournal]:
    """Every journal of this state folder (an unreadable or empty one is skipped)."""
    found = []
    for path in sorted((state_dir / JOURNALS).glob("*.steps")):
        try:
            session, *ids = path.read_text().split()
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        steps = [i for i in ids if re.fullmatch(r"[0-9a-f]{12,64}", i)]
        containers = tuple(dict.fromkeys(steps))
        found.append(StepJournal(path=str(path), session=session, containers=containers, ended=_ENDED in ids))
    return found

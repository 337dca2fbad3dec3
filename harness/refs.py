"""What a ref the user typed resolved to, and whether upstream moved since the last fetch (pure).

A symbolic ref (branch, tag, HEAD, `main~2`) means upstream's current value, so it is
resolved after a fetch; a commit id already in the mirror means itself and needs none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_HEX = re.compile(r"[0-9a-fA-F]{4,40}")
_BASE = re.compile(r"^([^~^@:]+)(.*)$")

# git's words for "this upstream does not exist or refuses us": the user must fix the URL or
# credentials (usage). Anything else a clone or fetch meets is the network (infra, exit 125).
_USAGE_MARKERS = (
    "not found",
    "does not exist",
    "does not appear to be a git repository",
    "not a git repository",
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied",
    "returned error: 40",
    "invalid username or password",
    "already exists",  # the mirror folder holds something else
)

How = Literal["sha", "fetched", "cloned", "offline"]


def split_ref(ref: str) -> tuple[str, str]:
    """`main~2` -> ("main", "~2"); `abc123^2` -> ("abc123", "^2")."""
    match = _BASE.match(ref)
    return (match[1], match[2]) if match else (ref, "")


def looks_like_sha(ref: str) -> bool:
    """Whether the base of `ref` could be an (abbreviated) commit id rather than a name."""
    return bool(_HEX.fullmatch(split_ref(ref)[0]))


def is_network_failure(stderr: str) -> bool:
    """A failed clone/fetch is the network's fault unless git says the repository is wrong."""
    text = stderr.lower()
    return not any(marker in text for marker in _USAGE_MARKERS)


@dataclass(frozen=True, kw_only=True)
class RefResolution:
    ref: str
    sha: str
    how: How  # sha: a commit already known (no fetch) | fetched: after this command's fetch | cloned | offline
    before: str | None = None  # what the ref named before this command's fetch (None: new or cloned now)
    new_commits: int = 0  # commits of `sha` that the mirror did not have before the fetch
    rewritten: bool = False  # `before` is not an ancestor of `sha` (a force-push)
    repo: str = "upstream"  # whose mirror: "upstream", or in wrapper mode "the wrapper"

    @property
    def moved(self) -> bool:
        return self.how == "fetched" and self.before != self.sha

    def line(self) -> str:
        return f"{self.ref} -> {self.sha[:12]} ({self._why()})"

    def _why(self) -> str:
        if self.how == "sha":
            return "a commit already in the mirror: no fetch needed"
        if self.how == "cloned":
            return f"{self.repo} cloned now"
        if self.how == "offline":
            return f"--offline: the mirror as of the last fetch, {self.repo} not asked"
        if self.before is None:
            return "fetched now: not in the mirror before this fetch"
        if self.before == self.sha:
            return f"fetched now: {self.repo} unchanged since the last fetch"
        if self.rewritten:
            return f"fetched now: {self.repo} rewritten since the last fetch (was {self.before[:12]}, not an ancestor)"
        plural = "" if self.new_commits == 1 else "s"
        return (
            f"fetched now: {self.repo} moved: {self.new_commits} new commit{plural} since the last fetch"
            f" (was {self.before[:12]})"
        )

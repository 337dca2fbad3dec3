"""What upstream's requirements.txt may ask of the deps build (issue 13), line by line.

The deps build runs as root with the network: an index option inside upstream's file would
choose where every package comes from, and a direct URL (`name @ url`, a bare or VCS URL, a
local path) fetches code from anywhere and, for a source archive, runs its setup.py. So:
index options are dropped, direct references and install-changing options are refused (the
commit's FAIL, with the line), unless a recipe rule with `action: allow` keeps the line, with
its reason. Source builds of named packages are the recipe's `sdists` policy (pip's
`--only-binary`), since which release is an sdist is only known to pip.
"""

from __future__ import annotations

import re
from typing import Literal

Decision = Literal["keep", "drop", "refuse"]

INDEX_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host", "--no-index"}
)
HARMLESS_OPTIONS = frozenset({"--pre", "--prefer-binary", "--require-hashes"})
BUILD_OPTIONS = ("--global-option", "--build-option", "--install-option", "--config-settings", "-C ")
DROPPED_INDEX = (
    "index options in upstream's requirements are dropped: the recipe's pip_options choose the indexes "
    "(a recipe filter with action: allow keeps one, with its reason)"
)
_DIRECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|(git|hg|svn|bzr)\+|file:)")
_ARCHIVE = re.compile(r"\.(whl|zip|tar|tgz|tar\.gz|tar\.bz2|tar\.xz)(\s|;|$)")
_HOW = "drop or replace it with a recipe filter, or keep it with action: allow and a reason"


def _option(line: str) -> str:
    word = line.split()[0].split("=", 1)[0]
    return word if word.startswith("--") else word[:2]  # `-ihttp://...` is `-i`


def decide(line: str) -> tuple[Decision, str]:
    """(keep|drop|refuse, why) for one stripped, non-comment line nothing in the recipe matched."""
    if line.startswith("-"):
        name = _option(line)
        if name in INDEX_OPTIONS:
            return "drop", DROPPED_INDEX
        if name in HARMLESS_OPTIONS:
            return "keep", ""
        return "refuse", f"option {name} may install code from outside the recipe's indexes or defeat its sdist policy"
    if _DIRECT.match(line) or _URL.match(line):
        return (
            "refuse",
            "a direct URL requirement: pip would fetch it from outside the indexes (and may run it)",
        )
    if line.startswith((".", "/", "~")) or _ARCHIVE.search(line.split(";", 1)[0]):
        return "refuse", "a local path or archive: it would be built from source at build time"
    if any(f" {option}" in line for option in BUILD_OPTIONS):
        return "refuse", "per-requirement build options reach a source build's setup.py"
    return "keep", ""


def refusal(line: str, why: str, recipe: str) -> str:
    """The message of a refused line: the line, why, and how to change the recipe."""
    return f"requirements.txt line {line!r} refused by recipe {recipe}: {why}; {_HOW}"

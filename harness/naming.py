"""Image names and tags, checked against the engine's reference grammar before any call.

The grammar is the one of distribution/reference: ASCII only, lowercase repository path
components, tags of at most 128 word characters, dots and dashes not leading.
"""

from __future__ import annotations

import re

from harness.errors import UpstreamError, UsageError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# A first component is a registry host only if it looks like one (a dot, a port, or
# localhost), as the engine decides; otherwise it is a path component and must be lowercase.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:(?:localhost|{_LABEL}(?:\.{_LABEL})+)(?::[0-9]+)?/|{_LABEL}:[0-9]+/)?"
_REPO_RE = re.compile(rf"{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*\Z", re.ASCII)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z", re.ASCII)
_REPO_MAX = 255

_REF_OK = re.compile(r"[A-Za-z0-9_./@{}~^+-]{1,200}\Z")

LAST_GOOD = "last-good"
PRODUCTION = "production"

# Labels that say which harness state made an image or container (and, for a container, which
# process): tags, `reconcile` and `gc` of one state touch only what carries its own id.
STATE_LABEL = "harness.state"
WRAPPER_LABEL = "harness.wrapper"  # wrapper mode: the wrapper's commit a pair image holds
STATE_DIR_LABEL = "harness.state-dir"
SESSION_LABEL = "harness.session"


def owner_labels(state: str, state_dir: object) -> dict[str, str]:
    """The labels that tie what harness creates to one state (its id and, for people, its folder)."""
    return {STATE_LABEL: state, STATE_DIR_LABEL: str(state_dir)}


def validate_repo(repo: str) -> str:
    """Return `repo` if it is a valid image repository name, else raise UsageError."""
    if not repo.isascii() or len(repo) > _REPO_MAX or not _REPO_RE.match(repo):
        raise UsageError(
            f"invalid image repository {repo!r}: use lowercase ASCII letters, digits and "
            "'.', '_', '-' separators, path components joined by '/' (e.g. harness/wan2gp)"
        )
    return repo


def validate_tag(tag: str) -> str:
    """Return `tag` if it is a valid image tag, else raise UsageError."""
    if not tag.isascii() or not _TAG_RE.match(tag):
        raise UsageError(
            f"invalid image tag {tag!r}: 1-128 ASCII letters, digits, '_', '.', '-', not starting with '.' or '-'"
        )
    return tag


def image_name(repo: str, tag: str) -> str:
    return f"{validate_repo(repo)}:{validate_tag(tag)}"


def commit_tag(sha: str) -> str:
    """Commit images are tagged with the first 12 hex digits of the upstream sha."""
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise UsageError(f"not a full commit sha: {sha!r}")
    return sha[:12]


def pair_tag(sha: str, wrapper_sha: str) -> str:
    """Wrapper mode: both commits in the tag, upstream's first (`<x12>-<w12>`)."""
    return f"{commit_tag(sha)}-{commit_tag(wrapper_sha)}"


def stage_repo(repo: str, stage: str) -> str:
    """Repository of the env and deps images that sit under the commit images."""
    return validate_repo(f"{repo}-{stage}")


def check_ref(ref: str) -> str:
    """Refuse refs that git could read as options or ranges, before git sees them."""
    if not ref.isascii() or not _REF_OK.match(ref) or ref.startswith("-") or ".." in ref:
        raise UpstreamError(
            f"invalid ref {ref!r}: give a commit sha, branch, tag or rev like HEAD~3 "
            "(no ranges, no leading '-', ASCII only)"
        )
    return ref

"""Where each page lives and how pages point at each other (pure).

Paths are relative to the site's root; templates prefix them with the page's `root` ("../../"
from a run page), so the site works from file:// and from any static server. No path is ever
built from upstream's or a run's text as it is (safe_name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.model import Commit, RunRecord

Context = dict[str, Any]  # plain, JSON-able: its digest says whether a page changed
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}")


@dataclass(frozen=True, kw_only=True)
class Page:
    path: str  # relative to the site's root
    template: str
    context: Context


def safe_name(text: str) -> str:
    """`text` when it is a plain file name, else a digest of it (the store's ids are plain;
    anything else never reaches a path as it is)."""
    return text if _SAFE.fullmatch(text) else "x-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def run_dir(run_id: str) -> str:
    return f"runs/{safe_name(run_id)}"


def run_page(run_id: str) -> str:
    return f"{run_dir(run_id)}/index.html"


def commit_page(sha: str) -> str:
    return f"commits/{safe_name(sha)}.html"


def bisect_page(bisect_id: str) -> str:
    return f"bisects/{safe_name(bisect_id)}.html"


def root_of(path: str) -> str:
    """The way back to the site's root from the page at `path`."""
    return "../" * path.count("/")


def subject(commits: Mapping[str, Commit], sha: str) -> str:
    commit = commits.get(sha)
    return commit.message.splitlines()[0] if commit and commit.message else ""


def commit_ref(commits: Mapping[str, Commit], sha: str) -> Context:
    return {"sha": sha, "short": sha[:12], "subject": subject(commits, sha), "href": commit_page(sha) if sha else ""}


def run_ref(record: RunRecord) -> Context:
    return {
        "id": record.run_id,
        "verdict": record.verdict.value,
        "level": record.level,
        "started": record.started,
        "summary": record.summary,
        "href": run_page(record.run_id),
    }


def short_image(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]

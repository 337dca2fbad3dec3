"""pin: point this repository's Wan2GP gitlink at the production commit, and say so in
STRUCTURE.md the way the old manual routine recorded the upstream commit."""

from __future__ import annotations

import re
from pathlib import Path

from harness.adapters.git_repo import set_gitlink
from harness.errors import UsageError
from harness.store import Store

BEGIN, END = "<!-- harness:pin -->", "<!-- /harness:pin -->"


def pin_block(*, sha: str, revision: int, image_id: str, when: str) -> str:
    return (
        f"{BEGIN}\n## Upstream pin\n\nWan2GP is pinned to `{sha}`: production revision {revision}, "
        f"image `{image_id.removeprefix('sha256:')[:12]}`, pinned {when}.\n{END}\n"
    )


def with_pin(text: str, block: str) -> str:
    """Replace the pin block in `text`, or append it."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return f"{text.rstrip()}\n\n{block}" if text.strip() else f"# Structure\n\n{block}"


def pin(store: Store, repo_dir: Path, *, submodule: str, now: str) -> tuple[str, str]:
    """Returns (sha, suggested commit command)."""
    production = store.production()
    if production is None or not production.commit:
        raise UsageError("nothing to pin: production has no release with a commit (see `harness releases`)")
    top = Path(set_gitlink(repo_dir, submodule, production.commit))
    structure = top / "STRUCTURE.md"
    text = structure.read_text() if structure.exists() else ""
    structure.write_text(
        with_pin(
            text, pin_block(sha=production.commit, revision=production.revision, image_id=production.image_id, when=now)
        )
    )
    return (
        production.commit,
        f"git -C {top} commit -m 'pin Wan2GP to {production.commit[:12]}' {submodule} STRUCTURE.md",
    )

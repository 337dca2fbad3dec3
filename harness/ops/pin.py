"""pin: point this repository's Wan2GP gitlink at the production commit, and say so in
STRUCTURE.md the way the old manual routine recorded the upstream commit."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from harness.errors import UsageError
from harness.ports import Checkout, ReleaseStore

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


def pin(store: ReleaseStore, checkout: Checkout, repo_dir: Path | None, *, submodule: str, now: str) -> tuple[str, str]:
    """Stage the gitlink and STRUCTURE.md in the repository whose top folder is `repo_dir`
    (never one found above it). Returns (sha, a commit command that commits exactly that)."""
    if repo_dir is None:
        raise UsageError("give --repo DIR: the checkout holding the Wan2GP gitlink (pin touches only that repository)")
    top = repo_dir.resolve()
    if not (top / ".git").exists():
        raise UsageError(
            f"--repo {repo_dir}: not the top folder of a git repository (no .git in it); "
            "give the checkout's top folder, pin never stages into a repository found above it"
        )
    production = store.production()
    if production is None or not production.commit:
        raise UsageError("nothing to pin: production has no release with a commit (see `harness releases`)")
    checkout.set_gitlink(top, submodule, production.commit)
    structure = top / "STRUCTURE.md"
    text = structure.read_text() if structure.exists() else ""
    structure.write_text(
        with_pin(
            text, pin_block(sha=production.commit, revision=production.revision, image_id=production.image_id, when=now)
        )
    )
    checkout.stage_paths(top, ["STRUCTURE.md"])
    # No pathspec: `git commit PATHS` takes the paths from the work tree, where a gitlink
    # without a checked-out submodule is absent, so it would drop the pin. The index holds
    # exactly what pin staged (plus anything the user had staged already).
    message = f"pin {submodule} to {production.commit[:12]}"
    return production.commit, f"git -C {shlex.quote(str(top))} commit -m {shlex.quote(message)}"

"""One image repository belongs to one harness state: refuse to build or move tags in another's.

Tags `:production` and `:last-good` and commit images `<repo>:<sha12>` are names in the
repository, and `gc` and `reconcile` act on them: two states sharing a repository would move
and remove each other's. Refusing a shared repository (rather than adding a tag namespace per
state) keeps every name the user sees as it is, and makes commit, env and deps images
per-state, so no state ever deletes an image another still uses. Images without a state label
(made before harness recorded states) belong to nobody and do not block.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.naming import STATE_DIR_LABEL, STATE_LABEL, stage_repo
from harness.ports import RepoImages
from harness.services import ImageInfo


def foreign_image(images: list[ImageInfo], state: str) -> ImageInfo | None:
    """The first image labelled with a state other than `state`, if any."""
    return next((i for i in images if i.labels.get(STATE_LABEL, state) not in (state, "")), None)


def check_repo(engine: RepoImages, repo: str, state: str) -> None:
    """Raise UsageError when `repo` (or its -env/-deps repositories) holds another state's image
    (one listing of the three: every build-and-test asks)."""
    names = (repo, stage_repo(repo, "env"), stage_repo(repo, "deps"))
    other = foreign_image(engine.repo_images(*names), state)
    if other is None:
        return
    tags = ", ".join(t for t in other.tags if t.rpartition(":")[0] in names)
    raise UsageError(
        f"image.repo {repo} is used by another harness state (folder "
        f"{other.labels.get(STATE_DIR_LABEL) or 'unknown'} / id {other.labels[STATE_LABEL]}; it owns {tags}); "
        "give this state its own image.repo in its harness.yaml (tags, reconcile and gc belong to one "
        f"state), or, if that state is gone for good, remove its images first (docker images --filter "
        f"label={STATE_LABEL}={other.labels[STATE_LABEL]})"
    )

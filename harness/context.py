"""Plan the three builds of a commit image as data: env, deps, commit (no I/O here).

env    = base + system packages + uv + venv + torch family   key: base id, recipe, CA, wheelhouse, uv
deps   = env + upstream requirements after the recipe filters key: env key, filtered reqs, constraints
         (built by uv in a container, from the env image or the closest deps image: ops/deps.py)
commit = deps + upstream tree + overlays + runner             key: sha, deps key, overlays, runner
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harness.errors import BuildFailed, UsageError
from harness.lock import Lock, changes
from harness.model import BuildSpec, Commit, Stage
from harness.naming import STATE_DIR_LABEL, STATE_LABEL, WRAPPER_LABEL, commit_tag, image_name, pair_tag, stage_repo
from harness.recipe import FilterReport, Recipe
from harness.reqpolicy import refusal
from harness.tarball import RUNNER_PREFIX, TREE_PREFIX, TreeEntry
from harness.uvopts import uv_options

KEY_LABEL = "harness.key"
STAGE_LABEL = "harness.stage"
OCI = "org.opencontainers.image"


WRAPPER_ROOT = "opt/wrapper"  # wrapper mode: the wrapper's tree; upstream's at its upstream_dir


@dataclass(frozen=True, kw_only=True)
class WrapperTree:
    """Wrapper mode's commit image: the wrapper at `commit`, upstream placed at `upstream_dir`."""

    commit: Commit
    url: str
    upstream_dir: str
    patched_tree: str = ""  # the upstream tree after the wrapper's patches ("" none)

    @property
    def upstream_root(self) -> str:
        """Upstream's folder in the context; /opt/wan2gp links to it (the smoke runner, the model cache)."""
        return f"{WRAPPER_ROOT}/{self.upstream_dir}/"


_LINK = 0o120000


def wrapper_context_tree(
    wrapper: Iterable[TreeEntry], upstream: Iterable[TreeEntry], upstream_dir: str
) -> Iterator[TreeEntry]:
    """The tree of a wrapper-mode image, relative to opt/: the wrapper's files under wrapper/
    less its own copy of upstream (vendored or a gitlink: replaced whole), upstream's under
    wrapper/<upstream_dir>/, and wan2gp -> wrapper/<upstream_dir> (where harness's smoke runner,
    the overlays' finetunes/ and the model cache mount look)."""
    vendored = f"{upstream_dir}/"
    for entry in wrapper:
        if entry.path != upstream_dir and not entry.path.startswith(vendored):
            yield TreeEntry(path=f"wrapper/{entry.path}", mode=entry.mode, data=entry.data)
    for entry in upstream:
        yield TreeEntry(path=f"wrapper/{vendored}{entry.path}", mode=entry.mode, data=entry.data)
    yield TreeEntry(path="wan2gp", mode=_LINK, data=f"wrapper/{upstream_dir}".encode())


@dataclass(frozen=True, kw_only=True)
class HostFiles:
    """What the builds read from the host's files: read once, when the plan is loaded."""

    ca_bundle: bytes  # empty: none configured
    wheelhouse: str | None  # host folder
    wheelhouse_digest: str
    pip_options: tuple[str, ...]
    dockerfiles: tuple[tuple[str, str], ...]  # (stage, Dockerfile text; deps: its script)
    runner_files: tuple[tuple[str, bytes], ...]
    state_dir: str = ""
    uv_binary: str = ""  # host path of the uv the builds install with ("" none found)
    uv_digest: str = ""


@dataclass(frozen=True, kw_only=True)
class HostInputs:
    """Facts about the host and the project, read by the use case and passed in."""

    base_image_id: str
    base_digest: str  # repo digest of the base image when it came from a registry, else ""
    ca_bundle: bytes  # empty: none configured
    wheelhouse: str | None  # host folder
    wheelhouse_digest: str
    pip_options: tuple[str, ...]
    dockerfiles: dict[str, str]  # stage -> Dockerfile text (deps: its script)
    runner_files: tuple[tuple[str, bytes], ...]
    state: str = ""  # the harness state building: its id goes on every image (and build stage)
    state_dir: str = ""
    uv_binary: str = ""
    uv_digest: str = ""  # the binary's size and mtime: a new uv makes new env images


def _owner(host: HostInputs) -> tuple[tuple[str, str], ...]:
    # Labels only, never part of a key: the layers under them stay shared by the engine's cache.
    return ((STATE_LABEL, host.state), (STATE_DIR_LABEL, host.state_dir)) if host.state else ()


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _quote(value: str) -> str:
    """A Dockerfile double-quoted word: no variable expansion, no line breaks."""
    value = " ".join(value.split("\n"))
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def with_labels(dockerfile: str, labels: tuple[tuple[str, str], ...]) -> str:
    """Append every label as one last LABEL instruction.

    docker-py's `labels=` makes the classic builder add one LABEL step (and one throwaway
    container) per label; one instruction, last, costs one step and busts no layer cache.
    """
    pairs = " ".join(f"{_quote(key)}={_quote(value)}" for key, value in labels)
    return f"{dockerfile.rstrip()}\nLABEL {pairs}\n"


def _pip_conf(ca: bytes) -> bytes:
    # Containers reach PyPI behind a TLS-intercepting proxy only with the host's CA bundle.
    return b"[global]\ncert = /opt/harness/ca.pem\n" if ca else b"[global]\n"


def plan_env(recipe: Recipe, host: HostInputs, repo: str) -> BuildSpec:
    options = recipe.pip_options + host.pip_options
    uv = uv_options(options, f"{recipe.folder}/recipe.yaml or harness.yaml build.pip_options")
    if not host.uv_binary:  # harness's own installation is incomplete: no commit can be judged (exit 128)
        raise UsageError("no uv binary for the builds: install harness with its dependencies (the `uv` package)")
    key = digest(
        "env",
        host.base_image_id,
        recipe.text,
        recipe.constraints,
        host.dockerfiles["env"],
        host.ca_bundle,
        host.wheelhouse_digest,
        "\n".join(options),
        host.uv_digest,
    )
    labels = ((KEY_LABEL, key), (STAGE_LABEL, "env"), ("harness.recipe", recipe.name), *_owner(host))
    return BuildSpec(
        stage="env",
        tag=image_name(stage_repo(repo, "env"), key[:16]),
        key=key,
        dockerfile=with_labels(host.dockerfiles["env"], labels),
        files=(
            ("pip.conf", _pip_conf(host.ca_bundle)),
            ("ca.pem", host.ca_bundle),
            ("constraints.txt", recipe.constraints.encode()),
            ("pip-options.txt", " ".join(options).encode()),
            ("uv-options.txt", " ".join(uv.args).encode()),
            ("uv.env", uv.env_script().encode()),
            ("env-requirements.txt", "".join(f"{line}\n" for line in recipe.torch).encode()),
            *((("wheelhouse/.keep", b""),) if not host.wheelhouse else ()),
        ),
        # No wheelhouse: an empty folder, so the Dockerfile's COPY has something to copy.
        dirs=(("wheelhouse", host.wheelhouse),) if host.wheelhouse else (),
        host_files=(("uv", host.uv_binary),),
        buildargs=(
            ("BASE", recipe.base),
            ("PYTHON", recipe.python),
            ("VENV", recipe.venv),
            ("APT_PACKAGES", " ".join(recipe.apt_packages)),
            ("HARNESS_STATE", host.state),  # labels the untagged install stage (env.Dockerfile)
        ),
        labels=labels,
    )


def deps_requirements(requirements: FilterReport, recipe: Recipe) -> str:
    """The deps image's requirements.txt: the recipe's sdist policy (pip options) first, then
    upstream's lines as filtered. Refused lines stop the commit here, before any build: the
    commit's FAIL, each line named."""
    if requirements.refused:
        reasons = tuple(refusal(line, why, recipe.name) for line, why in requirements.refused)
        raise BuildFailed("deps", "refused before any build: " + "; ".join(reasons), reasons)
    if all(line.startswith("-") for line in requirements.text.splitlines()):  # no comments or blanks left
        # Options alone make pip fail ("You must give at least one requirement"): an upstream with
        # no requirements left (none, or all filtered) installs nothing, as before the policy.
        return requirements.text
    return "".join(f"{line}\n" for line in recipe.sdists.pip_lines()) + requirements.text


DEPS_RUNTIME = (
    # What a Dockerfile deps image had: the runner is the entrypoint, upstream's tree the workdir.
    "WORKDIR /opt/wan2gp",
    "ENV PYTHONPATH=/opt/harness PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1",
    'ENTRYPOINT ["python", "-m", "harness_runner"]',
)


@dataclass(frozen=True, kw_only=True)
class DepsSpec:
    """The deps image of a requirements set: resolved to a lock on the env image, then built by
    syncing to that lock FROM the env image or the closest deps image of the same env."""

    tag: str
    repo: str  # the deps images' repository: where the bases of a delta are looked for
    key: str
    env_tag: str
    env_key: str
    files: tuple[tuple[str, bytes], ...]  # into /opt/harness/ of the build container
    policy: tuple[str, ...]  # the recipe's sdist option lines, first in the synced lock file
    labels: tuple[tuple[str, str], ...]  # besides the lock's: what every deps image of it carries
    stage: Stage = "deps"

    def sync_files(self, base: Lock, lock: Lock) -> tuple[tuple[str, bytes], ...]:
        """The lock, and what takes the base there: install.txt (the recipe's policy, then exact
        pins) and remove.txt (names); docker/deps.sh applies them."""
        install, remove = changes(base, lock)
        policy = "".join(f"{line}\n" for line in self.policy)
        return (
            ("lock.txt", lock.text.encode()),
            ("install.txt", (policy + install.text).encode()),
            ("remove.txt", "".join(f"{name}\n" for name in remove).encode()),
        )


def plan_deps(env: BuildSpec, requirements: FilterReport, recipe: Recipe, host: HostInputs, repo: str) -> DepsSpec:
    text = deps_requirements(requirements, recipe)
    key = digest("deps", env.key, text, recipe.constraints, host.dockerfiles["deps"])
    labels = (
        (KEY_LABEL, key),
        (STAGE_LABEL, "deps"),
        ("harness.recipe", recipe.name),
        ("harness.env-key", env.key),
        *_owner(host),
    )
    return DepsSpec(
        tag=image_name(stage_repo(repo, "deps"), key[:16]),
        repo=stage_repo(repo, "deps"),
        key=key,
        env_tag=env.tag,
        env_key=env.key,
        files=(
            ("requirements.txt", text.encode()),
            ("pre-install.sh", "".join(f"{line}\n" for line in ("set -eux", *recipe.pre_install)).encode()),
            ("deps.sh", host.dockerfiles["deps"].encode()),
        ),
        policy=recipe.sdists.pip_lines(),
        labels=labels,
    )


def plan_commit(
    *,
    commit: Commit,
    deps: DepsSpec,
    recipe: Recipe,
    host: HostInputs,
    repo: str,
    source: str,
    created: str,
    overlays: tuple[tuple[str, bytes], ...],
    pip_freeze: str,
    wrapper: WrapperTree | None = None,
) -> BuildSpec:
    """The commit image. `overlays` are (relative path under finetunes/, bytes). With `wrapper`,
    the context's tree is the wrapper's (opt/wrapper/) with upstream's at its upstream folder."""
    runner = tuple((f"{RUNNER_PREFIX}{name}", data) for name, data in host.runner_files)
    root = wrapper.upstream_root if wrapper else TREE_PREFIX
    overlay_files = tuple((f"{root}finetunes/{name}", data) for name, data in overlays)
    key = digest(
        "commit",
        commit.sha,
        deps.key,
        host.dockerfiles["commit"],
        *(part for name, data in runner + overlay_files for part in (name, data)),
        *((wrapper.commit.sha, wrapper.upstream_dir, wrapper.patched_tree) if wrapper else ()),
    )
    labels = [
        (f"{OCI}.revision", commit.sha),
        (f"{OCI}.source", source),
        (f"{OCI}.created", created),
        (f"{OCI}.base.name", recipe.base),
        (KEY_LABEL, key),
        (STAGE_LABEL, "commit"),
        ("harness.commit", commit.sha),
        ("harness.recipe", recipe.name),
        ("harness.deps-key", deps.key),
        ("harness.pip-freeze", pip_freeze),
        *_owner(host),
    ]
    if host.base_digest:
        labels.append((f"{OCI}.base.digest", host.base_digest))
    if wrapper:
        labels += [(WRAPPER_LABEL, wrapper.commit.sha), ("harness.wrapper-source", wrapper.url)]
        labels += [("harness.patched-tree", wrapper.patched_tree)] if wrapper.patched_tree else []
    return BuildSpec(
        stage="commit",
        tag=image_name(repo, pair_tag(commit.sha, wrapper.commit.sha) if wrapper else commit_tag(commit.sha)),
        key=key,
        dockerfile=with_labels(host.dockerfiles["commit"], tuple(labels)),
        files=runner + overlay_files,
        buildargs=(("DEPS_IMAGE", deps.tag),),
        labels=tuple(labels),
        tree_commit=commit.sha,
        tree_root="opt/" if wrapper else TREE_PREFIX,
    )

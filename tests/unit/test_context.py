from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from harness.context import DepsSpec, HostInputs, plan_commit, plan_deps, plan_env, with_labels
from harness.errors import UsageError
from harness.model import BuildSpec, Commit
from harness.recipe import FilterRule, Recipe, filter_requirements
from harness.tarball import TreeEntry, write_context

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "harness/wan2gp"
RULE = FilterRule(match=r"^--extra-index-url", action="drop", replacement="", reason="unreachable")
RECIPE = Recipe(
    name="cpu",
    folder=Path("/recipes/cpu"),
    text="base: debian:12\n",
    base="debian:12",
    python="python3",
    venv="create",
    apt_packages=(),
    torch=("torch==2.13.0",),
    pre_install=(),
    pip_options=(),
    constraints="torch==2.13.0\n",
    filters=(RULE,),
)
HOST = HostInputs(
    base_image_id="sha256:" + "a" * 64,
    base_digest="",
    ca_bundle=b"",
    wheelhouse=None,
    wheelhouse_digest="",
    pip_options=(),
    dockerfiles={"env": "FROM env", "deps": "FROM deps", "commit": "FROM commit"},
    runner_files=(("entry.py", b"print('run')\n"),),
    uv_binary=str(Path(__file__)),  # any real file: the context copies it as the uv binary
)
COMMIT = Commit(sha=SHA, message="subject\n\nbody", author="a <a@b>", date="2024-01-01T00:00:00+00:00")


def deps_key(requirements: str, host: HostInputs = HOST) -> str:
    env = plan_env(RECIPE, host, REPO)
    return plan_deps(env, filter_requirements(requirements, RECIPE.filters), RECIPE, host, REPO).key


def commit_spec(host: HostInputs = HOST) -> tuple[DepsSpec, BuildSpec]:
    env = plan_env(RECIPE, host, REPO)
    deps = plan_deps(env, filter_requirements("numpy\n", ()), RECIPE, host, REPO)
    return deps, plan_commit(
        commit=COMMIT,
        deps=deps,
        recipe=RECIPE,
        host=host,
        repo=REPO,
        source="file:///up",
        created="2024-01-02T00:00:00Z",
        overlays=(("tiny.json", b"{}"),),
        pip_freeze="numpy==2.0",
    )


def test_env_key_follows_base_and_ca() -> None:
    env = plan_env(RECIPE, HOST, REPO)
    assert env.tag == f"{REPO}-env:{env.key[:16]}"
    assert plan_env(RECIPE, HOST, REPO).key == env.key
    other_base = plan_env(RECIPE, dataclasses.replace(HOST, base_image_id="sha256:" + "b" * 64), REPO)
    other_ca = plan_env(RECIPE, dataclasses.replace(HOST, ca_bundle=b"-----BEGIN CERTIFICATE-----"), REPO)
    assert len({env.key, other_base.key, other_ca.key}) == 3
    assert dict(other_ca.files)["pip.conf"] == b"[global]\ncert = /opt/harness/ca.pem\n"


def test_deps_key_hashes_filtered_requirements() -> None:
    base = deps_key("numpy>=1.26\npillow\n")
    assert deps_key("# pinned below\nnumpy>=1.26  # math\n\npillow\n") == base
    assert deps_key("--extra-index-url https://nightly.invalid\nnumpy>=1.26\npillow\n") == base
    assert deps_key("numpy>=1.27\npillow\n") != base
    assert deps_key("numpy>=1.26\npillow\n", dataclasses.replace(HOST, ca_bundle=b"ca")) != base


def test_commit_labels_and_tag() -> None:
    deps, spec = commit_spec()
    labels = dict(spec.labels)
    assert spec.tag == f"{REPO}:{SHA[:12]}"
    assert spec.tree_commit == SHA
    assert labels["org.opencontainers.image.revision"] == SHA
    assert labels["org.opencontainers.image.source"] == "file:///up"
    assert labels["org.opencontainers.image.created"] == "2024-01-02T00:00:00Z"
    assert labels["org.opencontainers.image.base.name"] == "debian:12"
    assert labels["harness.pip-freeze"] == "numpy==2.0"
    assert labels["harness.deps-key"] == deps.key
    assert dict(spec.buildargs) == {"DEPS_IMAGE": deps.tag}
    assert "org.opencontainers.image.base.digest" not in labels
    assert dict(spec.files) == {
        "opt/harness/harness_runner/entry.py": b"print('run')\n",
        "opt/wan2gp/finetunes/tiny.json": b"{}",
    }
    digest = "debian@sha256:" + "c" * 64
    with_digest = dict(commit_spec(dataclasses.replace(HOST, base_digest=digest))[1].labels)
    assert with_digest["org.opencontainers.image.base.digest"] == digest


Members = dict[str, tuple[tarfile.TarInfo, bytes | None]]


def tar_members(spec: BuildSpec, tree: tuple[TreeEntry, ...] = ()) -> tuple[bytes, list[str], Members]:
    buf = io.BytesIO()
    write_context(spec, buf, tree)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        members: Members = {}
        for m in tar.getmembers():
            fh = tar.extractfile(m) if m.isfile() else None
            members[m.name] = (m, fh.read() if fh else None)
    return buf.getvalue(), list(members), members


TREE = (
    TreeEntry(path="wgp.py", mode=0o100644, data=b"upstream\n"),
    TreeEntry(path="run.sh", mode=0o100755, data=b"#!/bin/sh\n"),
    TreeEntry(path="finetunes/tiny.json", mode=0o100644, data=b"old"),
    TreeEntry(path="latest", mode=0o120000, data=b"wgp.py"),
)
SPEC = BuildSpec(
    stage="commit",
    tag="x:y",
    key="k",
    dockerfile="FROM scratch\n",
    files=(("opt/wan2gp/finetunes/tiny.json", b"new"), ("opt/harness/harness_runner/entry.py", b"e")),
)


def test_context_is_deterministic() -> None:
    first, names, members = tar_members(SPEC, TREE)
    assert tar_members(SPEC, TREE)[0] == first
    assert names == sorted(names)
    # Exactly the tree, the spec's files and their folders: nothing from the host slips in.
    assert names == [
        "Dockerfile",
        "opt",
        "opt/harness",
        "opt/harness/harness_runner",
        "opt/harness/harness_runner/entry.py",
        "opt/wan2gp",
        "opt/wan2gp/finetunes",
        "opt/wan2gp/finetunes/tiny.json",
        "opt/wan2gp/latest",
        "opt/wan2gp/run.sh",
        "opt/wan2gp/wgp.py",
    ]
    for m, _ in members.values():
        assert (m.uid, m.gid, m.mtime, m.uname, m.gname) == (0, 0, 0, "", "")


def test_context_modes_links_and_overlays() -> None:
    _, _, members = tar_members(SPEC, TREE)
    assert members["opt/wan2gp/run.sh"][0].mode == 0o755
    assert members["opt/wan2gp/wgp.py"][0].mode == 0o644
    assert members["opt/wan2gp"][0].isdir()
    link = members["opt/wan2gp/latest"][0]
    assert link.issym() and link.linkname == "wgp.py"
    assert members["opt/wan2gp/finetunes/tiny.json"][1] == b"new"
    assert members["opt/harness/harness_runner/entry.py"][1] == b"e"
    assert members["Dockerfile"][1] == b"FROM scratch\n"


def test_context_copies_host_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.whl").write_bytes(b"wheel")
    (tmp_path / "tool").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    spec = dataclasses.replace(SPEC, dirs=(("wheelhouse", str(tmp_path)),))
    _, names, members = tar_members(spec)
    assert members["wheelhouse/tool"][0].mode == 0o755
    assert members["wheelhouse/sub/a.whl"][1] == b"wheel"
    assert {"wheelhouse", "wheelhouse/sub"} <= set(names)


def test_env_context_without_wheelhouse_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "private.txt").write_text("not for the build context")
    monkeypatch.chdir(tmp_path)
    _, names, _ = tar_members(plan_env(RECIPE, HOST, REPO))
    assert [n for n in names if n.startswith("wheelhouse")] == ["wheelhouse", "wheelhouse/.keep"]


def test_labels_are_one_last_instruction_and_quoted() -> None:
    spec = commit_spec(HOST)[1]
    *body, last = spec.dockerfile.rstrip().splitlines()
    assert last.startswith("LABEL ") and sum(line.startswith("LABEL") for line in body) == 0
    assert '"org.opencontainers.image.revision"="' + SHA + '"' in last
    hostile = with_labels("FROM x", (("k", 'a "b" $HOME\nc'),))
    assert hostile.splitlines()[-1] == 'LABEL "k"="a \\"b\\" \\$HOME c"'


def test_an_env_build_without_uv_is_refused_as_harnesss_own_problem() -> None:
    with pytest.raises(UsageError, match="no uv binary for the builds: install harness with its dependencies"):
        plan_env(RECIPE, dataclasses.replace(HOST, uv_binary=""), REPO)


def test_the_env_context_carries_uv_and_its_translated_options() -> None:
    spec = plan_env(RECIPE, dataclasses.replace(HOST, pip_options=("--retries", "4")), REPO)
    files = dict(spec.files)
    assert spec.host_files == (("uv", HOST.uv_binary),)
    assert files["uv.env"].startswith(b"export UV_HTTP_RETRIES=4\n") and files["uv-options.txt"] == b""
    assert plan_env(RECIPE, dataclasses.replace(HOST, uv_digest="other"), REPO).key != spec.key  # a new uv, a new env

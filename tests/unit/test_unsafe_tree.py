"""Tree entry names no checkout may write: the pure rule and the build context's last guard."""

from __future__ import annotations

import io

import pytest

from harness.errors import EXIT_FAIL, UnsafeTree
from harness.model import BuildSpec
from harness.tarball import TreeEntry, unsafe_name, write_context


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", ".git", ".GIT", ".git.", ".git ", "git~1", "a\\.git"])
def test_unsafe_names(name: str) -> None:
    assert unsafe_name(name)


@pytest.mark.parametrize("name", ["...", "..a", ".github", ".gitignore", "wgp.py", "a b", "ü.txt", "git"])
def test_ordinary_names(name: str) -> None:
    assert not unsafe_name(name)


def test_the_error_names_the_paths_and_is_the_commits_failure() -> None:
    err = UnsafeTree("0123456789abcdef", ("..", "a/b"))
    assert err.exit_code == EXIT_FAIL
    assert "0123456789ab" in str(err) and "'..', 'a/b'" in str(err)


def test_a_context_never_holds_a_dotdot_path() -> None:
    spec = BuildSpec(stage="commit", tag="r:t", key="k", dockerfile="FROM scratch\n", files=())
    with pytest.raises(UnsafeTree) as info:
        write_context(spec, io.BytesIO(), [TreeEntry(path="../../etc/planted", mode=0o100644, data=b"x")])
    assert info.value.paths == ("../../etc/planted",)

"""What a resolved ref says, and which clone/fetch failures are the network's (pure)."""

from __future__ import annotations

import pytest

from harness.refs import RefResolution, is_network_failure, looks_like_sha, split_ref

A, B = "a" * 40, "b" * 40


@pytest.mark.parametrize(
    "stderr",
    [
        "fatal: unable to access 'http://127.0.0.1:9/x.git/': Failed to connect to 127.0.0.1 port 9",
        "fatal: unable to access 'https://github.com/x/y.git/': Could not resolve host: github.com",
        'Timeout: the command "git fetch --prune https://x" did not complete in 60 secs.',
        "ssh: connect to host github.com port 22: Connection timed out",
    ],
)
def test_network_failures_are_infra(stderr: str) -> None:
    assert is_network_failure(stderr)


@pytest.mark.parametrize(
    "stderr",
    [
        "fatal: repository '/tmp/nope' does not exist",
        "remote: Repository not found. fatal: repository 'https://github.com/x/nope.git/' not found",
        "fatal: '/tmp/x' does not appear to be a git repository",
        "fatal: Authentication failed for 'https://github.com/x/y.git/'",
        "fatal: unable to access 'https://h/x.git/': The requested URL returned error: 403",
    ],
)
def test_a_wrong_repository_is_usage(stderr: str) -> None:
    assert not is_network_failure(stderr)


def test_split_and_sha_like() -> None:
    assert split_ref("main~2") == ("main", "~2") and split_ref("HEAD") == ("HEAD", "")
    assert looks_like_sha("abc123^2") and looks_like_sha(A)
    assert not looks_like_sha("main") and not looks_like_sha("abc")  # under 4 digits: a name


def test_lines_say_where_the_ref_points_and_whether_upstream_moved() -> None:
    moved = RefResolution(ref="main", sha=B, how="fetched", before=A, new_commits=3)
    assert moved.line() == (
        f"main -> {B[:12]} (fetched now: upstream moved: 3 new commits since the last fetch (was {A[:12]}))"
    )
    assert moved.moved
    same = RefResolution(ref="HEAD", sha=A, how="fetched", before=A)
    assert same.line().endswith("upstream unchanged since the last fetch)") and not same.moved
    assert "rewritten" in RefResolution(ref="main", sha=B, how="fetched", before=A, rewritten=True).line()
    assert "--offline" in RefResolution(ref="HEAD", sha=A, how="offline").line()
    assert "no fetch needed" in RefResolution(ref=A[:8], sha=A, how="sha").line()
    wrapper = RefResolution(ref="HEAD", sha=A, how="cloned", repo="the wrapper")  # wrapper mode's own mirror
    assert wrapper.line() == f"HEAD -> {A[:12]} (the wrapper cloned now)"

from __future__ import annotations

import pytest

from harness.errors import EXIT_USAGE, UsageError
from harness.naming import commit_tag, image_name, stage_repo, validate_repo, validate_tag

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("repo", ["harness/wan2gp", "wan2gp", "a__b/c-d.e", "localhost:5000/x/y", "reg.io/ns/img"])
def test_valid_repos(repo: str) -> None:
    assert validate_repo(repo) == repo


@pytest.mark.parametrize("tag", ["last-good", "0123456789ab", "v1.2_3", "A" * 128, "_x"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["é", "tagé", "A" * 129, "-x", ".x", "a;rm -rf /", "$(id)", "a\nb", "", "a b", "a:b"])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(UsageError, match="invalid image tag") as info:
        validate_tag(tag)
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    "repo", ["-x", ".x", "harness/Wan2GP", "HARNESS", "a;rm -rf /", "$(id)", "a\nb", "", "é/x", "a//b", "x" * 256]
)
def test_bad_repos(repo: str) -> None:
    with pytest.raises(UsageError, match="invalid image repository"):
        validate_repo(repo)


def test_uppercase_first_component_is_rejected() -> None:
    with pytest.raises(UsageError):
        validate_repo("Harness/x")


def test_image_name_and_stage_repo() -> None:
    assert image_name("harness/wan2gp", "last-good") == "harness/wan2gp:last-good"
    assert stage_repo("harness/wan2gp", "env") == "harness/wan2gp-env"
    with pytest.raises(UsageError):
        image_name("harness/wan2gp", "-bad")


def test_commit_tag() -> None:
    assert commit_tag(SHA) == SHA[:12]


@pytest.mark.parametrize("sha", ["main", SHA[:12], SHA.upper(), SHA + "0", "g" * 40, SHA[:-1] + "\n"])
def test_commit_tag_needs_full_sha(sha: str) -> None:
    with pytest.raises(UsageError, match="not a full commit sha"):
        commit_tag(sha)

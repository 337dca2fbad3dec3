"""The culprit in words over a fake upstream: diffstat, integration surface, requirements."""

from __future__ import annotations

from harness.ops.culprit import culprit_report
from tests.unit.fakes import WGP, FakeUpstream, sha_of


def test_the_culprit_names_its_surface_and_its_requirement_changes() -> None:
    upstream = FakeUpstream(
        ["c0", "c1"],
        files={"c1": {"wgp.py": WGP + b"\n# changed\n", "requirements.txt": b"numpy\ntorch==2.7\n", "README.md": b"x"}},
    )
    culprit = culprit_report(upstream, sha_of("c1"))
    assert culprit.parent == sha_of("c0")
    assert culprit.commit.subject == "c1"
    assert [f[0] for f in culprit.files] == ["README.md", "requirements.txt", "wgp.py"]
    assert [f[0] for f in culprit.integration] == ["requirements.txt", "wgp.py"]  # README is no surface
    assert culprit.requirements.added == ("torch==2.7",)


def test_the_first_commit_is_its_own_parent_and_changes_nothing() -> None:
    upstream = FakeUpstream(["c0"])
    culprit = culprit_report(upstream, sha_of("c0"))
    assert (culprit.parent, culprit.files, culprit.requirements.empty) == (sha_of("c0"), (), True)

"""Bisect answers the question asked (contract level, real git upstreams in tmp_path):
one symptom at a time (--reason), and a culprit merge is bisected inside."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from harness.adapters.git_repo import write_commits
from harness.errors import EXIT_PASS, EXIT_USAGE
from harness.sample.make import Files, template
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
CONFLICT, FIXED, CULPRIT = 4, 6, 7


def _wgp() -> str:
    return template()["wgp.py"] or ""


def _no_settings(wgp: str) -> str:
    """The break being hunted: the contract's get_default_settings is gone (renamed)."""
    return wgp.replace("def get_default_settings(", "def get_settings(", 1)


def _conflicted(wgp: str) -> str:
    """An unrelated breakage: committed merge-conflict markers (a SyntaxError)."""
    return f"<<<<<<< HEAD\n{wgp}=======\n{wgp}>>>>>>> theirs\n"


def _bisect(project: Project, *args: str) -> tuple[int, dict[str, Any]]:
    return project.run_json("bisect", "--level", "contract", *args)


def test_reason_skips_an_unrelated_breakage_in_the_range(project: Project) -> None:
    history: list[tuple[str, Files]] = [("base", template())]
    for i in range(1, 10):
        wgp = _no_settings(_wgp()) if i >= CULPRIT else _wgp()
        text = _conflicted(wgp) if CONFLICT <= i < FIXED else wgp
        history.append((f"commit {i}", {"wgp.py": f"{text}\n# commit {i}\n"}))
    shas = write_commits(project.upstream, history)
    code, plain = _bisect(project, "--good", shas[0], "--bad", shas[-1])
    assert code == EXIT_PASS and plain["first_bad"] == shas[CONFLICT]  # any failure: the wrong culprit
    code, doc = _bisect(project, "--good", shas[0], "--bad", shas[-1], "--reason", "get_default_settings")
    assert code == EXIT_PASS, doc
    assert doc["first_bad"] == shas[CULPRIT]
    assert shas[CONFLICT] in doc["skipped"]  # met, failing otherwise, and stepped over
    assert doc["symptom"] == {"reason": "get_default_settings", "case": ""}
    # The endpoints check uses the same rule: a bad endpoint must fail with the symptom.
    code, doc = _bisect(project, "--good", shas[0], "--bad", shas[CONFLICT], "--reason", "get_default_settings")
    assert code == EXIT_USAGE and "fails, but not with the symptom" in str(doc["output"]), doc
    code, doc = _bisect(project, "--good", shas[0], "--bad", shas[-1], "--case", "t2v")
    assert code == EXIT_USAGE and "only baseline runs have cases" in str(doc["output"]), doc


def _git(project: Project, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(["git", *args], cwd=project.upstream, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def _merge_history(project: Project, *, evil: bool) -> dict[str, str]:
    """main: base, c1, c2, Merge side, c3; side (from c1): s1, s2, s3. Not evil: s2 breaks the
    contract. Evil: the side branch is fine and the merge commit itself breaks it."""
    base, c1 = write_commits(project.upstream, [("base", template()), ("c1", {"notes.txt": "1"})])
    _git(project, "checkout", "-q", "-b", "side")
    side = [_wgp() + "# s1\n", _wgp() + "# s2\n", _wgp() + "# s3\n"]
    if not evil:
        side = [side[0], _no_settings(side[1]), _no_settings(side[2])]
    s1, s2, s3 = write_commits(project.upstream, [(f"s{i}", {"wgp.py": t}) for i, t in enumerate(side, 1)])
    _git(project, "checkout", "-q", "main")
    (c2,) = write_commits(project.upstream, [("c2", {"notes.txt": "2"})])
    _git(project, "merge", "-q", "--no-ff", "--no-commit", "side")
    if evil:
        (project.upstream / "wgp.py").write_text(_no_settings(side[2]))
        _git(project, "add", "wgp.py")
    _git(project, "commit", "-q", "-m", "Merge side into main")
    merge = _git(project, "rev-parse", "HEAD")
    (c3,) = write_commits(project.upstream, [("c3", {"notes.txt": "3"})])
    return {"base": base, "c1": c1, "c2": c2, "s1": s1, "s2": s2, "s3": s3, "merge": merge, "c3": c3}


def test_a_culprit_merge_is_bisected_inside(project: Project) -> None:
    c = _merge_history(project, evil=False)
    code, doc = _bisect(project, "--good", c["base"], "--bad", c["c3"])
    assert code == EXIT_PASS, doc
    assert doc["first_bad"] == c["merge"]  # the first-parent culprit
    inside = doc["inside_merge"]
    assert inside["base"] == c["c1"] and inside["tip"] == c["s3"] and inside["commits"] == 3
    assert inside["first_bad"] == c["s2"] and inside["culprit"]["commit"]["message"] == "s2"
    assert inside["why_not"] == ""
    code, output = project.run("bisect", "--level", "contract", "--good", c["base"], "--bad", c["c3"])
    assert code == EXIT_PASS and f"first bad commit on the merged branch {c['s2']}" in output, output


def test_a_merge_that_breaks_by_itself_says_why_nothing_inside_is_named(project: Project) -> None:
    c = _merge_history(project, evil=True)
    code, doc = _bisect(project, "--good", c["base"], "--bad", c["c3"])
    assert code == EXIT_PASS and doc["first_bad"] == c["merge"], doc
    inside = doc["inside_merge"]
    assert inside["first_bad"] is None and inside["culprit"] is None
    assert f"the merged branch's tip {c['s3'][:12]} is not bad here (pass)" in inside["why_not"]


def test_a_merge_inside_a_merged_branch_is_followed(project: Project) -> None:
    """main merges `side`; `side` itself merged `sub`, whose t2 broke the contract."""
    base, c1 = write_commits(project.upstream, [("base", template()), ("c1", {"notes.txt": "1"})])
    _git(project, "checkout", "-q", "-b", "side")
    (s1,) = write_commits(project.upstream, [("s1", {"side.txt": "1"})])
    _git(project, "checkout", "-q", "-b", "sub")
    t1, t2 = write_commits(
        project.upstream, [("t1", {"wgp.py": _wgp() + "# t1\n"}), ("t2", {"wgp.py": _no_settings(_wgp()) + "# t1\n"})]
    )
    _git(project, "checkout", "-q", "side")
    write_commits(project.upstream, [("s2", {"side.txt": "2"})])
    _git(project, "merge", "-q", "--no-ff", "-m", "Merge sub into side", "sub")
    side_merge = _git(project, "rev-parse", "HEAD")
    _git(project, "checkout", "-q", "main")
    _git(project, "merge", "-q", "--no-ff", "-m", "Merge side into main", "side")
    merge = _git(project, "rev-parse", "HEAD")
    code, doc = _bisect(project, "--good", base, "--bad", merge)
    assert code == EXIT_PASS and doc["first_bad"] == merge, doc
    outer = doc["inside_merge"]
    assert outer["base"] == c1 and outer["first_bad"] == side_merge
    inner = outer["inside_merge"]
    assert inner["merge"] == side_merge and inner["base"] == s1 and inner["tip"] == t2
    assert inner["first_bad"] == t2 and inner["why_not"] == ""
    assert {p["commit"]: p["verdict"] for p in doc["probes"]}[t1] == "pass"  # probed inside the inner branch

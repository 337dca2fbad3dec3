"""Refs mean what the user means: a symbolic ref is upstream's current value (one fetch per
command), a known sha needs no fetch, --offline stays on the mirror, a network failure is infra."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.errors import EXIT_PASS, EXIT_SKIP, EXIT_USAGE
from harness.sample.make import template
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration


def _contract(project: Project, ref: str, *options: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """build-and-test REF at contract level: (exit code, the commit tested or '', all output)."""
    result = CliRunner().invoke(
        app, ["-c", str(project.config), *options, "build-and-test", ref, "--level", "contract", "--json"], env=env
    )
    tested = ""
    if '"commit": "' in result.stdout:
        tested = result.stdout.split('"commit": "', 1)[1][:40]
    return result.exit_code, tested, result.output


def _point_upstream_at(project: Project, url: str) -> None:
    text = project.config.read_text()
    project.config.write_text(text.replace(f"url: {project.upstream}", f"url: {url}"))


def test_head_is_upstream_head_after_new_commits_and_offline_stays(project: Project) -> None:
    first = write_commits(project.upstream, [("base", template())])[0]
    code, tested, output = _contract(project, "HEAD")
    assert (code, tested) == (EXIT_PASS, first) and f"HEAD -> {first[:12]} (upstream cloned now)" in output
    newer = write_commits(project.upstream, [("one", {"a.txt": "1"}), ("two", {"a.txt": "2"})])
    code, tested, output = _contract(project, "HEAD")
    assert (code, tested) == (EXIT_PASS, newer[-1]), output
    assert f"HEAD -> {newer[-1][:12]}" in output and "upstream moved: 2 new commits since the last fetch" in output
    code, tested, output = _contract(project, "main~1")
    assert (code, tested) == (EXIT_PASS, newer[0]) and "unchanged since the last fetch" in output
    newest = write_commits(project.upstream, [("three", {"a.txt": "3"})])[0]
    for options, env in (["--offline"], None), ([], {"HARNESS_OFFLINE": "1"}):
        code, tested, output = _contract(project, "HEAD", *options, env=env)
        assert (code, tested) == (EXIT_PASS, newer[-1]), output  # the mirror's HEAD, said so
        assert f"HEAD -> {newer[-1][:12]} (--offline" in output
    code, tested, _ = _contract(project, "HEAD")
    assert tested == newest


def test_status_shows_the_fetched_upstream_head(project: Project) -> None:
    first = write_commits(project.upstream, [("base", template())])[0]
    assert project.run("status")[0] == EXIT_PASS
    newest = write_commits(project.upstream, [("moved on", {"a.txt": "1"})])[0]
    code, output = project.run("status")
    assert code == EXIT_PASS, output
    assert f"upstream:   HEAD -> {newest[:12]} (fetched now: upstream moved: 1 new commit since" in output
    assert f"(was {first[:12]})" in output
    code, doc = project.run_json("status")
    assert doc["upstream_head"]["sha"] == newest
    assert doc["upstream_head"]["resolution"]["before"] == newest  # fetched again: nothing new this time


def test_known_sha_needs_no_fetch_and_a_network_failure_is_infra(project: Project) -> None:
    shas = write_commits(project.upstream, [("base", template()), ("next", {"a.txt": "1"})])
    assert _contract(project, "HEAD")[:2] == (EXIT_PASS, shas[-1])  # the mirror is cloned
    _point_upstream_at(project, "http://127.0.0.1:9/x.git")  # a closed port: connection refused
    code, tested, output = _contract(project, shas[0][:10])
    assert (code, tested) == (EXIT_PASS, shas[0]), output  # a known sha: no fetch, no network
    code, tested, output = _contract(project, "HEAD")
    assert code == EXIT_SKIP and tested == "", output
    assert "cannot reach upstream 'http://127.0.0.1:9/x.git'" in output
    assert _contract(project, "HEAD", "--offline")[:2] == (EXIT_PASS, shas[-1])


def test_unreachable_clone_is_infra_a_missing_path_is_usage(project: Project, tmp_path: Path) -> None:
    _point_upstream_at(project, "http://127.0.0.1:9/x.git")
    code, _, output = _contract(project, "HEAD")
    assert code == EXIT_SKIP and "cannot reach upstream" in output, output
    text = project.config.read_text().replace("http://127.0.0.1:9/x.git", str(tmp_path / "no-such-repo"))
    project.config.write_text(text)
    code, _, output = _contract(project, "HEAD")
    assert code == EXIT_USAGE and "cannot clone upstream" in output, output


def test_diff_and_check_default_to_the_fetched_head(project: Project) -> None:
    first = write_commits(project.upstream, [("base", template())])[0]
    assert _contract(project, "HEAD")[1] == first
    newest = write_commits(project.upstream, [("moved on", {"a.txt": "1"})])[0]
    code, doc = project.run_json("diff", first)
    assert code == EXIT_PASS and doc["new"]["sha"] == newest, doc
    assert doc["refs"] == [
        f"HEAD -> {newest[:12]} (fetched now: upstream moved: 1 new commit since the last fetch (was {first[:12]}))"
    ]
    code, output = project.run("--offline", "check", "main")
    assert code == EXIT_PASS and f"contract at {newest[:12]}" in output and "main -> " in output, output

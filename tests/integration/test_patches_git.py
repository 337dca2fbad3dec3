"""Downstream patches on real git: a series made in a wrapper (upstream vendored at Wan2GP/)
applies to upstream for a while, then conflicts; `patches refresh` carries it by 3-way merge
where it can; `diff` names it (GitUpstream.apply_series, ops/patches.py, the CLI). No engine."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import GitUpstream, write_commits
from harness.cli import app
from harness.errors import PatchConflict
from harness.ops.patches import refresh
from harness.patches import load_series
from tests.conftest import write_config
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration  # real git child processes (no engine needed)

EXTRA = """\
From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
Subject: [PATCH] an extra module

---
diff --git a/shared/extra.py b/shared/extra.py
new file mode 100644
--- /dev/null
+++ b/shared/extra.py
@@ -0,0 +1 @@
+EXTRA = True
"""


def wgp(*, top: str = "", context: str = "a = 1", value: str = "steps = 10") -> str:
    body = [
        "import os",
        "",
        "",
        "def apply_changes(state):",
        "    return state",
        "",
        "",
        "def generate_video(task, **settings):",
        "    prompt = task['prompt']",
        f"    {context}",
        "    b = 2",
        "    c = 3",
        f"    {value}",
        "    d = 4",
        "    e = 5",
        "    f = 6",
        "    return prompt",
    ]
    return top + "\n".join(body) + "\n"


def git(cwd: Path, *args: str) -> str:
    who = ["-c", "user.name=Wrapper Dev", "-c", "user.email=dev@example.invalid"]
    done = subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60)
    return done.stdout


@dataclass
class History:
    upstream: Path
    wrapper: Path
    patches: Path
    shas: dict[str, str]  # commit name -> sha


@pytest.fixture
def history(tmp_path: Path) -> History:
    """Upstream: base, readme (the series applies), offset (lines inserted above: applies with an
    offset), context (a context line of the hunk changed: only a 3-way merge applies it), clash
    (the patched line itself changed: conflicts either way)."""
    upstream = tmp_path / "upstream"
    names = ["base", "readme", "offset", "context", "clash"]
    shas = write_commits(
        upstream,
        [
            ("base", {"wgp.py": wgp(), "README.md": "upstream\n"}),
            ("readme", {"README.md": "upstream, v2\n"}),
            ("offset", {"wgp.py": wgp(top="import sys\nimport json\n")}),
            ("context", {"wgp.py": wgp(top="import sys\nimport json\n", context="a = 100")}),
            ("clash", {"wgp.py": wgp(top="import sys\nimport json\n", context="a = 100", value="steps = 20")}),
        ],
    )
    # The wrapper vendors upstream's base at Wan2GP/ and format-patches its own change there.
    wrapper = tmp_path / "wrapper"
    write_commits(wrapper, [("vendor Wan2GP", {"Wan2GP/wgp.py": wgp(), "worker.py": "import wgp\n"})])
    write_commits(wrapper, [("keep fast steps", {"Wan2GP/wgp.py": wgp(value="steps = 4")})])
    patches = tmp_path / "patches"
    git(wrapper, "format-patch", "-1", "-o", str(patches))
    (patches / "extra.patch").write_text(EXTRA)
    (patches / "series").write_text("# the wrapper's changes\n0001-keep-fast-steps.patch\nextra.patch -p1\n")
    return History(upstream=upstream, wrapper=wrapper, patches=patches, shas=dict(zip(names, shas, strict=True)))


def hunk_of(patches: Path) -> str:
    text = (patches / "0001-keep-fast-steps.patch").read_text()
    found = re.search(r"^@@ .*$", text, re.M)
    assert found is not None
    return found[0]


def test_the_series_applies_for_a_while_then_conflicts_at_the_first_commit_it_stops_applying(
    history: History, tmp_path: Path
) -> None:
    up = GitUpstream(str(history.upstream), tmp_path / "mirror.git")
    series = load_series(history.patches, "Wan2GP")
    assert [p.strip for p in series.patches] == [2, 1]  # made in the wrapper: Wan2GP/ stripped
    for name in ("base", "readme", "offset"):
        sha = history.shas[name]
        tree = up.apply_series(sha, series)
        assert tree != up.repo.commit(sha).tree.hexsha
        assert b"    steps = 4\n" in (up.read_file(tree, "wgp.py") or b"")
        assert up.read_file(tree, "shared/extra.py") == b"EXTRA = True\n"
        skipped: list[str] = []
        assert [e.path for e in up.iter_tree(tree, skipped)] == ["README.md", "shared/extra.py", "wgp.py"]
        assert up.unsafe_tree(tree) is None and not skipped
        assert up.apply_series(sha, series) == tree  # the same commit and series: the same tree
    again = GitUpstream(str(history.upstream), tmp_path / "mirror.git")
    assert again.apply_series(history.shas["base"], series) == up.apply_series(history.shas["base"], series)
    for name in ("context", "clash"):
        with pytest.raises(PatchConflict) as info:
            up.apply_series(history.shas[name], series)
        found = info.value
        assert (found.patch, found.file, found.hunk, found.commit) == (
            "0001-keep-fast-steps.patch",
            "wgp.py",
            hunk_of(history.patches),
            history.shas[name],
        )
        assert "patch failed: wgp.py:" in found.detail
        assert str(found).startswith(
            "patch_conflict: 0001-keep-fast-steps.patch no longer applies to wgp.py, "
            f"hunk {hunk_of(history.patches)} at {history.shas[name][:12]} (git: error: patch failed: wgp.py:"
        )


def test_refresh_carries_the_series_by_3_way_and_what_it_writes_applies(history: History, tmp_path: Path) -> None:
    up = GitUpstream(str(history.upstream), tmp_path / "mirror.git")
    context = history.shas["context"]
    report = refresh(up, context, load_series(history.patches, "Wan2GP"), out_dir=None, state_dir=tmp_path / "state")
    assert report.ok
    assert [(p.patch, p.outcome) for p in report.patches] == [
        ("0001-keep-fast-steps.patch", "refreshed"),
        ("extra.patch", "applied"),
    ]
    assert report.out_dir == tmp_path / "state" / f"patches-refreshed-{context[:12]}"
    text = (report.out_dir / "0001-keep-fast-steps.patch").read_text()
    assert "Subject: [PATCH] keep fast steps" in text and "diff --git a/Wan2GP/wgp.py b/Wan2GP/wgp.py" in text
    assert "+    steps = 4" in text and " 1 file changed" not in text  # the stale diffstat is gone
    refreshed = load_series(report.out_dir, "Wan2GP")
    tree = up.apply_series(context, refreshed)  # the refreshed series applies as is at REF
    assert (
        up.read_file(tree, "wgp.py")
        == wgp(top="import sys\nimport json\n", context="a = 100", value="steps = 4").encode()
    )
    # Applied in the wrapper's own tree (where it was made) at the new vendored copy, it goes on too.
    write_commits(
        history.wrapper,
        [("vendor context", {"Wan2GP/wgp.py": wgp(top="import sys\nimport json\n", context="a = 100")})],
    )
    git(history.wrapper, "apply", "--check", str(report.out_dir / "0001-keep-fast-steps.patch"))


def test_refresh_lists_a_real_conflict_and_writes_nothing(history: History, tmp_path: Path) -> None:
    up = GitUpstream(str(history.upstream), tmp_path / "mirror.git")
    out = tmp_path / "out"
    report = refresh(up, history.shas["clash"], load_series(history.patches, "Wan2GP"), out_dir=out, state_dir=tmp_path)
    assert not report.ok and report.out_dir is None and not out.exists()
    first, second = report.patches
    assert (first.outcome, first.file, first.hunk) == ("conflict", "wgp.py", hunk_of(history.patches))
    assert second.outcome == "applied"


def test_a_patch_upstream_took_is_left_out_of_the_refreshed_series(history: History, tmp_path: Path) -> None:
    top = "import sys\nimport json\n"
    taken = write_commits(history.upstream, [("took the patch", {"wgp.py": wgp(top=top, value="steps = 4")})])[0]
    up = GitUpstream(str(history.upstream), tmp_path / "mirror.git")
    with pytest.raises(PatchConflict):  # as a build would meet it: the wrapper must drop the patch
        up.apply_series(taken, load_series(history.patches, "Wan2GP"))
    report = refresh(up, taken, load_series(history.patches, "Wan2GP"), out_dir=tmp_path / "o", state_dir=tmp_path)
    assert [(p.patch, p.outcome) for p in report.patches] == [
        ("0001-keep-fast-steps.patch", "empty"),
        ("extra.patch", "applied"),
    ]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["extra.patch", "series"]


def _config(tmp_path: Path, history: History) -> Path:
    config = write_config(tmp_path, upstream=history.upstream, repo=unique_repo("patches"))
    wrapper = f"wrapper:\n  url: {history.wrapper}\n  command: python run.py {{out}}\n  patches: {history.patches}\n"
    config.write_text(config.read_text() + wrapper)
    return config


def test_the_cli_refreshes_and_diff_names_the_patch(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # none of this may need one
    config = _config(tmp_path, history)
    cli = CliRunner()
    done = cli.invoke(
        app, ["-c", str(config), "patches", "refresh", "--to", history.shas["context"], "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 0, done.output
    assert "refreshed" in done.output and f"refreshed series written to {tmp_path / 'o'}" in done.output
    clash = cli.invoke(app, ["-c", str(config), "patches", "refresh", "--to", history.shas["clash"], "--json"])
    assert clash.exit_code == 1, clash.output
    doc = json.loads(clash.stdout)
    assert doc["ok"] is False and doc["out_dir"] is None
    assert doc["patches"][0] | {"detail": ""} == {
        "patch": "0001-keep-fast-steps.patch",
        "outcome": "conflict",
        "files": ["wgp.py"],
        "file": "wgp.py",
        "hunk": hunk_of(history.patches),
        "detail": "",
    }
    impact = tmp_path / "impact"
    shown = cli.invoke(
        app, ["-c", str(config), "diff", history.shas["base"], history.shas["clash"], "--out", str(impact)]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads((impact / "impact.json").read_text())["patches"] == [
        {"patch": "0001-keep-fast-steps.patch", "files": ["wgp.py"]}
    ]
    assert "- `0001-keep-fast-steps.patch` touches changed files: `wgp.py`" in (impact / "impact.md").read_text()


def test_refresh_without_a_series_is_a_config_error(history: History, tmp_path: Path) -> None:
    config = write_config(tmp_path, upstream=history.upstream, repo=unique_repo("patches"))
    done = CliRunner().invoke(app, ["-c", str(config), "patches", "refresh", "--to", "HEAD"])
    assert done.exit_code == 128 and "wrapper.patches: not set" in done.output


def test_patch_conflict_is_the_verdict_at_the_first_commit_where_the_series_stops_applying(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build-and-test and bisect at level contract (git only, nothing built): the pair FAILs with
    patch_conflict from `context` on, bisect names `context`, and the refreshed series passes it."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # none of this may need one
    config = _config(tmp_path, history)
    (tmp_path / "contract.yaml").write_text("functions:\n  - {names: [generate_video], positional: [task]}\n")
    (tmp_path / "overlays").mkdir()
    (tmp_path / "overlays" / "t2v_tiny.json").write_text('{"model": {"name": "tiny"}}')  # the suite's model
    text = re.sub(r"(?m)^contract: .*$", f"contract: {tmp_path / 'contract.yaml'}", config.read_text())
    config.write_text(text.replace("suite:\n", f"suite:\n  overlays: {tmp_path / 'overlays'}\n", 1))
    cli = CliRunner()

    def level_contract(name: str) -> tuple[int, str]:
        done = cli.invoke(app, ["-c", str(config), "build-and-test", history.shas[name], "--level", "contract"])
        return done.exit_code, " ".join(done.output.split())

    assert [level_contract(n)[0] for n in ("base", "readme", "offset")] == [0, 0, 0]
    code, output = level_contract("context")
    assert code == 1, output
    assert (
        f"patch_conflict: 0001-keep-fast-steps.patch no longer applies to wgp.py, hunk {hunk_of(history.patches)}"
        in output
    )
    walk = cli.invoke(
        app,
        [
            "-c",
            str(config),
            "bisect",
            "--level",
            "contract",
            "--good",
            history.shas["base"],
            "--bad",
            history.shas["clash"],
        ],
    )
    assert walk.exit_code == 0, walk.output
    assert f"first bad commit {history.shas['context']}" in walk.output
    refreshed = tmp_path / "refreshed"
    done = cli.invoke(
        app, ["-c", str(config), "patches", "refresh", "--to", history.shas["context"], "--out", str(refreshed)]
    )
    assert done.exit_code == 0, done.output
    config.write_text(config.read_text().replace(f"patches: {history.patches}", f"patches: {refreshed}"))
    code, output = level_contract("context")
    assert code == 0 and "patches: 2 apply to" in output and "PASS (contract)" in output, output

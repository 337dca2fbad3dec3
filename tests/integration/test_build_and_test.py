"""build-and-test on the real engine against synthetic upstreams made in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.sample.make import broken_import, knob, template
from tests.conftest import write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration


def test_pass_builds_labelled_image_and_moves_last_good(project: Project) -> None:
    sha = project.commit("good", template())
    code, output = project.run("build-and-test", "HEAD")
    assert code == 0, output
    image_id = project.image_id(sha[:12])
    assert image_id is not None
    labels = project.engine.images.image_labels(f"{project.repo}:{sha[:12]}")
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.source"] == str(project.upstream)
    assert labels["org.opencontainers.image.base.name"]
    assert "numpy==" in labels["harness.pip-freeze"]
    assert project.image_id(LAST_GOOD) == image_id
    [record] = project.store().runs()
    assert record.verdict is Verdict.PASS and record.image_id == image_id
    results = json.loads((Path(record.run_dir) / "results.json").read_text())
    row = results["results"][0]
    assert row["status"] == "success" and row["model"] == "t2v_tiny"
    assert row["checks"]["video"]["frames"] == 9 and row["checks"]["verdict"] == "pass"
    assert {"test_run_id", "timestamp", "description"} <= results.keys()
    assert (Path(record.run_dir) / "container.log").read_text().count("[harness-runner]") >= 2
    assert project.containers(sha) == []


def test_import_break_fails_and_last_good_stays(project: Project) -> None:
    good = project.commit("good", template())
    project.commit("stuff", {"wgp.py": broken_import(template()["wgp.py"] or "")})
    assert project.run("build-and-test", good[:8])[0] == 0
    last_good = project.image_id(LAST_GOOD)
    code, output = project.run("build-and-test", "HEAD")
    assert code == 1, output
    assert "No module named 'smplfitter'" in output
    assert project.image_id(LAST_GOOD) == last_good
    assert [r.verdict for r in project.store().runs()] == [Verdict.FAIL, Verdict.PASS]


def _ancestors(project: Project, tag: str) -> set[str]:
    """Ids of the image and of every image it was built on (the classic builder keeps them)."""
    return {str(layer["Id"]) for layer in project.engine.client.images.get(f"{project.repo}:{tag}").history()}


def test_code_only_change_reuses_deps_image(project: Project) -> None:
    first = project.commit("one", template())
    wgp = template()["wgp.py"] or ""
    second = project.commit("two", {"wgp.py": wgp + "\n# a code-only change\n"})
    assert project.run("build-and-test", first)[0] == 0
    [run] = project.store().runs()
    deps_tag = f"{project.repo}-deps:{run.deps_key[:16]}"
    deps_id = project.engine.images.image_id(deps_tag)
    assert deps_id is not None and deps_id in _ancestors(project, first[:12])
    assert project.run("build-and-test", second)[0] == 0
    # The same deps image (by id, not by key) under both commit images: it was not rebuilt.
    assert project.engine.images.image_id(deps_tag) == deps_id
    assert deps_id in _ancestors(project, second[:12])
    assert project.image_id(first[:12]) != project.image_id(second[:12])
    # :last-good moved forward to the newer commit.
    assert project.image_id(LAST_GOOD) == project.image_id(second[:12])


def test_requirements_change_builds_new_deps_image(project: Project) -> None:
    first = project.commit("one", template())
    second = project.commit("bump", {"requirements.txt": "numpy>=1.25\nav>=12\n"})
    assert project.run("build-and-test", first)[0] == 0
    assert project.run("build-and-test", second)[0] == 0
    new, old = project.store().runs()
    assert new.deps_key != old.deps_key
    deps_repo = f"{project.repo}-deps"
    old_id = project.engine.images.image_id(f"{deps_repo}:{old.deps_key[:16]}")
    new_id = project.engine.images.image_id(f"{deps_repo}:{new.deps_key[:16]}")
    assert old_id and new_id and old_id != new_id


@pytest.mark.parametrize(
    ("knob_name", "reason"),
    [("FLAT_OUTPUT", "video is constant"), ("SKIP_WRITE", "no output video")],
)
def test_bad_video_fails_even_when_process_exits_zero(project: Project, knob_name: str, reason: str) -> None:
    project.commit("bad video", {**template(), "wgp.py": knob(template()["wgp.py"] or "", knob_name, True)})
    code, output = project.run("build-and-test", "HEAD")
    assert code == 1, output
    [record] = project.store().runs()
    [case] = record.cases
    assert case.verdict is Verdict.FAIL
    assert any(reason in r for r in case.reasons), case.reasons
    assert project.image_id(LAST_GOOD) is None


def test_older_commit_passing_does_not_move_last_good_back(project: Project) -> None:
    old = project.commit("old", template())
    new = project.commit("new", {"README.md": "newer\n"})
    assert project.run("build-and-test", new)[0] == 0
    assert project.run("build-and-test", old)[0] == 0
    assert project.image_id(LAST_GOOD) == project.image_id(new[:12])


def test_gpu_required_without_gpu_is_infra_125(project: Project, tmp_path: Path) -> None:
    project.commit("good", template())
    cases = "    - id: needs_gpu\n      model: t2v_tiny\n      prompt: x\n      requires_gpu: true\n"
    write_config(tmp_path, upstream=project.upstream, repo=project.repo, cases=cases)
    code, output = project.run("build-and-test", "HEAD", "--level", "baseline")
    assert code == 125, output
    assert "GPU preflight: no GPU visible through NVML" in output
    [record] = project.store().runs()
    assert record.verdict is Verdict.ERROR
    assert project.image_id(LAST_GOOD) is None
    # Without --level, the deepest level this host can run is smoke, and the output says so.
    code, output = project.run("build-and-test", "HEAD")
    assert code == 0, output
    assert "level smoke: the suite needs a GPU and none is usable here" in " ".join(output.split())
    assert project.store().runs()[0].level == "smoke"
    assert project.image_id(LAST_GOOD) is None  # a smoke pass is no baseline pass


def test_history_and_show(project: Project) -> None:
    project.commit("good", template())
    assert project.run("build-and-test", "HEAD")[0] == 0
    code, output = project.run("history", "--json")
    assert code == 0
    [run] = json.loads(output)
    assert run["verdict"] == "pass"
    code, output = project.run("show", run["run_id"][:18], "--json")
    assert code == 0 and json.loads(output)["cases"][0]["case_id"] == "t2v"


@pytest.mark.parametrize(
    ("change", "verdict", "needle"),
    [
        (lambda w: w, Verdict.PASS, "models resolved"),
        (broken_import, Verdict.FAIL, "No module named 'smplfitter'"),
        # wgp's mmgp check calls exit() - status 0 - at import: the import never finished.
        (lambda w: w.replace("FLAT_OUTPUT = False", "exit()\nFLAT_OUTPUT = False"), Verdict.FAIL, "exit(None)"),
    ],
)
def test_smoke_level(project: Project, change: Callable[[str], str], verdict: Verdict, needle: str) -> None:
    project.commit("c", {**template(), "wgp.py": change(template()["wgp.py"] or "")})
    code, output = project.run("build-and-test", "HEAD", "--level", "smoke")
    assert code == verdict.exit_code, output
    [record] = project.store().runs()
    assert record.verdict is verdict and record.level == "smoke" and needle in record.summary


def test_smoke_names_a_model_that_is_not_defined(project: Project, tmp_path: Path) -> None:
    project.commit("c", template())
    cases = "    - id: x\n      model: vace_14B\n      prompt: p\n"
    write_config(tmp_path, upstream=project.upstream, repo=project.repo, cases=cases).write_text(
        project.config.read_text().replace("contract: ", "contract: none\n# ")
    )
    code, output = project.run("build-and-test", "HEAD", "--level", "smoke")
    assert code == 1, output
    assert "model vace_14B: not defined in defaults/ or finetunes/" in project.store().runs()[0].summary

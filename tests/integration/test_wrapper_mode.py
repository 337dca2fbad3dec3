"""Wrapper mode on the real engine: the synthetic wrapper's own test command over upstream commits.

Each upstream edit here leaves harness's own runner passing (it adapts) and breaks the wrapper
(it calls what upstream took away): wrapper mode must FAIL with the wrapper's error, and
bisect must name the commit, over upstream with the wrapper fixed or over the wrapper's
commits with upstream fixed (`--side wrapper`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.adapters.git_repo import write_commits
from harness.model import Verdict
from harness.sample.make import Files, template
from harness.sample.wrapper import (
    COMMAND,
    FRAMES,
    MODEL,
    RESOLUTION,
    UPSTREAM_EDITED,
    WRAPPER_CULPRIT,
    flat_output,
    renamed_generate_video,
    unset_server_config,
    wrapper_files,
    wrapper_history,
)
from tests.conftest import SAMPLE_CONTRACT
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
Edit = Callable[[str], str]


def _edited(edit: Edit) -> Files:
    return {k: edit(template()[k] or "") for k in UPSTREAM_EDITED}


def _swap(text: str, old: str, new: str) -> str:
    assert old in text, f"tests/conftest.py write_config no longer writes {old!r}"
    return text.replace(old, new, 1)


def _own_runner(project: Project) -> None:
    """Today's mode: no contract check before building (the sample contract names both edits),
    the suite at the wrapper's baseline settings."""
    text = project.config.read_text()
    text = _swap(text, f"contract: {SAMPLE_CONTRACT}\n", "contract: none\n")
    text = _swap(
        text, "    resolution: 64x48\n    frames: 9\n", f"    resolution: {RESOLUTION}\n    frames: {FRAMES}\n"
    )
    # The results rows of run_baseline.py carry `model` only: the case is matched by its model.
    _swap(text, "      model: t2v_tiny\n", f"      model: {MODEL}\n")
    project.config.write_text(text)


def _wrapped(project: Project, wrapper: list[tuple[str, Files]]) -> list[str]:
    """Commit the wrapper's history next to the upstream and switch the config to wrapper mode."""
    shas = write_commits(project.folder / "wrapper", wrapper)
    text = project.config.read_text()
    text += f"wrapper:\n  url: wrapper\n  command: {COMMAND}\n  requirements: requirements.txt\n"
    project.config.write_text(text)
    return shas


@pytest.fixture
def own(project: Project) -> Project:
    """A project judging with harness's own runner, its suite what the wrapper's baseline makes."""
    _own_runner(project)
    return project


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (renamed_generate_video, "cannot import name 'generate_video'"),
        (unset_server_config, "has no attribute 'server_config'"),
    ],
)
def test_upstream_edit_passes_own_runner_and_fails_the_wrapper(own: Project, edit: Edit, error: str) -> None:
    base = own.commit("base", template())
    own.commit("stuff", _edited(edit))
    code, output = own.run("build-and-test", "HEAD")
    assert code == 0, output  # harness's own runner adapts to the edit
    _wrapped(own, [("mini wrapper", wrapper_files())])
    code, output = own.run("build-and-test", base)
    assert code == 0, output
    code, output = own.run("build-and-test", "HEAD")
    assert code == 1, output
    assert error in output
    assert [r.verdict for r in own.store().runs()] == [Verdict.FAIL, Verdict.PASS, Verdict.PASS]


def test_the_upstream_commit_replaces_the_wrappers_vendored_copy(own: Project) -> None:
    own.commit("base", template())
    own.commit("stuff", _edited(renamed_generate_video))
    # The wrapper carries the old, good tree at Wan2GP/: testing that copy would pass.
    _wrapped(own, [("vendor Wan2GP", wrapper_files(vendored=template()))])
    code, output = own.run("build-and-test", "HEAD")
    assert code == 1, output
    assert "cannot import name 'generate_video'" in output


def test_success_over_a_constant_video_fails(own: Project) -> None:
    own.commit("base", template())
    files = wrapper_files()
    _wrapped(own, [("faster previews", {**files, "headless_wgp.py": flat_output(files["headless_wgp.py"] or "")})])
    code, output = own.run("build-and-test", "HEAD")
    assert code == 1, output
    assert "constant" in output.lower()
    assert [r.verdict for r in own.store().runs()] == [Verdict.FAIL]


def test_bisect_over_upstream_names_the_rename(own: Project) -> None:
    wgp = template()["wgp.py"] or ""
    shas = write_commits(
        own.upstream,
        [
            ("base", template()),
            ("tidy", {"wgp.py": wgp + "\n# tidy\n"}),
            (
                "stuff",
                {k: f"{v}\n# tidy\n" if k == "wgp.py" else v for k, v in _edited(renamed_generate_video).items()},
            ),
            ("more", {"wgp.py": renamed_generate_video(wgp) + "\n# tidy\n# more\n"}),
        ],
    )
    _wrapped(own, [("mini wrapper", wrapper_files())])
    code, doc = own.run_json("bisect", "--good", shas[0], "--bad", shas[-1], "--level", "baseline")
    assert code == 0, doc
    assert doc["first_bad"] == shas[2]


def test_bisect_over_the_wrapper_names_its_own_bad_commit(own: Project) -> None:
    own.commit("base", template())
    shas = _wrapped(own, wrapper_history())
    code, doc = own.run_json("bisect", "--side", "wrapper", "--good", shas[0], "--bad", shas[-1])
    assert code == 0, doc
    assert doc["first_bad"] == shas[WRAPPER_CULPRIT]


@pytest.mark.parametrize(
    ("edit", "name"), [(renamed_generate_video, "generate_video"), (unset_server_config, "server_config")]
)
def test_derived_contract_flags_the_edit_before_anything_is_built(own: Project, edit: Edit, name: str) -> None:
    base = own.commit("base", template())
    own.commit("stuff", _edited(edit))
    _wrapped(own, [("mini wrapper", wrapper_files())])
    own.config.write_text(_swap(own.config.read_text(), "contract: none\n", "contract: derived\n"))
    code, doc = own.run_json("check", base)
    assert code == 0 and doc["holds"] is True, doc
    code, doc = own.run_json("check", "HEAD")
    assert code == 1 and doc["holds"] is False, doc
    assert [i["status"] for i in doc["items"] if i["name"] == name] == ["missing"], doc["items"]
    code, output = own.run("build-and-test", "HEAD")
    assert code == 1 and "nothing built" in output, output
    assert own.engine.client.images.list(name=own.repo) == []

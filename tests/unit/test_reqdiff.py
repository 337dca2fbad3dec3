"""Requirement changes (pure), on lines with markers, wheel URLs and repeated names, and
`harness diff` commit by commit over a real git range."""

from __future__ import annotations

from pathlib import Path

from harness.adapters.git_repo import GitUpstream, write_commits
from harness.contract import load_contract
from harness.ops.diff import diff, markdown
from harness.reqdiff import requirement_changes
from harness.sample.make import template
from tests.conftest import SAMPLE_CONTRACT

REAL = (Path(__file__).parent.parent / "fixtures" / "wan2gp-requirements-8681e9f7.txt").read_text()
WHEEL = "https://github.com/deepbeepmeep/insightface/releases/download/insightface/insightface-0.7.{v}-cp311-cp311-win_amd64.whl"
WIN311 = 'insightface @ {url} ; sys_platform == "win32" and python_version == "3.11"'


def test_several_lines_of_one_package_stay_apart() -> None:
    new = REAL.replace(WHEEL.format(v=3), WHEEL.format(v=4))
    new = new.replace('insightface==0.7.3 ; sys_platform == "linux"', 'insightface==0.7.4 ; sys_platform == "linux"')
    new = new.replace('onnxruntime>=1.22.0; platform_system == "Darwin"\n', "")
    changes = requirement_changes(REAL, new)
    assert changes.repinned == (
        (
            "insightface",
            WIN311.format(url=WHEEL.format(v=3)),
            WIN311.format(url=WHEEL.format(v=4)),
        ),
        ("insightface", 'insightface==0.7.3 ; sys_platform == "linux"', 'insightface==0.7.4 ; sys_platform == "linux"'),
    )
    assert changes.removed == ('onnxruntime>=1.22.0; platform_system == "Darwin"',)
    assert changes.added == () and changes.options == ()


def test_nothing_changed_on_the_real_file_and_repeated_names_are_kept() -> None:
    assert requirement_changes(REAL, REAL).empty
    # vector_quantize_pytorch==1.27.19 and vector-quantize-pytorch: one name, two lines.
    changes = requirement_changes(
        REAL, REAL.replace("vector_quantize_pytorch==1.27.19", "vector_quantize_pytorch==1.28")
    )
    assert changes.repinned == (
        ("vector-quantize-pytorch", "vector_quantize_pytorch==1.27.19", "vector_quantize_pytorch==1.28"),
    )
    gone = requirement_changes(REAL, REAL.replace("vector-quantize-pytorch\n", ""))
    assert gone.removed == ("vector-quantize-pytorch",) and gone.repinned == ()
    rembg = requirement_changes(
        REAL, REAL.replace('rembg==2.0.65; platform_system == "Darwin"', 'rembg==2.0.66; platform_system == "Darwin"')
    )
    assert rembg.repinned == (
        ("rembg", 'rembg==2.0.65; platform_system == "Darwin"', 'rembg==2.0.66; platform_system == "Darwin"'),
    )


def test_diff_over_a_range_lists_requirement_changes_commit_by_commit(tmp_path: Path) -> None:
    base = template()
    reqs = (base["requirements.txt"] or "") + "transformers==4.53.1\n"
    shas = write_commits(
        tmp_path / "up",
        [
            ("base", {**base, "requirements.txt": reqs}),
            ("try transformers 5", {"requirements.txt": reqs.replace("4.53.1", "5.0.0")}),
            ("docs", {"README.md": "x"}),
            ("back to 4.x", {"requirements.txt": reqs.replace("4.53.1", "4.54.0")}),
        ],
    )
    upstream = GitUpstream(str(tmp_path / "up"), tmp_path / "mirror.git")
    report = diff(upstream, shas[0], shas[-1], load_contract(SAMPLE_CONTRACT), overlays=None, suite_models=())
    assert report.requirements.repinned == (("transformers", "transformers==4.53.1", "transformers==4.54.0"),)
    steps = [(s.commit.sha, s.changes.repinned) for s in report.requirement_steps]
    assert steps == [
        (shas[1], (("transformers", "transformers==4.53.1", "transformers==5.0.0"),)),
        (shas[3], (("transformers", "transformers==5.0.0", "transformers==4.54.0"),)),
    ]
    text = markdown(report)
    assert "`transformers==4.53.1` -> `transformers==5.0.0`" in text
    assert "`transformers==5.0.0` -> `transformers==4.54.0`" in text
    assert any("transformers" in item and "2 commits" in item for item in report.checklist)

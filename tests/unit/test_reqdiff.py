"""Requirement changes (pure), on lines with markers, wheel URLs and repeated names."""

from __future__ import annotations

from pathlib import Path

from harness.reqdiff import requirement_changes

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

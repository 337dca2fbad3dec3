"""The recipe filters on a real Wan2GP requirements file (upstream main 8681e9f7, a fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT
from harness.context import deps_requirements
from harness.recipe import filter_requirements, load_recipe

REAL = (Path(__file__).parent.parent / "fixtures" / "wan2gp-requirements-8681e9f7.txt").read_text()


@pytest.mark.parametrize("variant", ["cpu-wan2gp", "cu128"])
def test_every_filter_matches_and_nothing_unreachable_is_left(variant: str) -> None:
    recipe = load_recipe(PROJECT_ROOT / "images" / variant)
    report = filter_requirements(REAL, recipe.filters)
    assert report.unused == ()  # each rule still earns its place on this commit
    assert report.refused == ()  # plans cleanly: no direct URL or install option is left
    assert deps_requirements(report, recipe) == report.text  # sdists allowed, with the recipe's reason
    lines = report.text.splitlines()
    assert not [line for line in lines if "github.com" in line or line.startswith("--extra-index-url")]
    assert "smplfitter==0.2.10" in lines
    assert 'insightface==0.7.3 ; sys_platform == "linux"' in lines  # built from PyPI's sdist
    assert "mmgp==3.7.12" in lines and "numpy==2.1.2" in lines  # the rest as upstream wrote it
    assert recipe.pre_install[-1] == "uv pip install --no-build-isolation chumpy==0.70"
    assert {"torch==2.10.0", "torchvision==0.25.0", "torchaudio==2.10.0"} == set(recipe.torch)
    assert {"torch==2.10.0", "torchvision==0.25.0", "torchaudio==2.10.0"} <= set(recipe.constraints.split())


def test_cpu_keeps_markers_when_it_swaps_onnxruntime() -> None:
    report = filter_requirements(REAL, load_recipe(PROJECT_ROOT / "images" / "cpu-wan2gp").filters)
    lines = report.text.splitlines()
    assert 'onnxruntime; python_version >= "3.11" and platform_system != "Darwin"' in lines
    assert 'rembg==2.0.65; platform_system != "Darwin"' in lines
    assert not [line for line in lines if line.startswith("onnxruntime-gpu")]


def test_gpu_recipe_keeps_onnxruntime_gpu_but_not_the_nightly_pin() -> None:
    report = filter_requirements(REAL, load_recipe(PROJECT_ROOT / "images" / "cu128").filters)
    lines = report.text.splitlines()
    assert 'onnxruntime-gpu; python_version >= "3.11" and platform_system != "Darwin"' in lines
    assert 'onnxruntime-gpu==1.22.0; python_version < "3.11" and platform_system != "Darwin"' in lines

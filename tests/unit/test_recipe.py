from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT
from harness.errors import ConfigError
from harness.recipe import FilterRule, filter_requirements, load_recipe

DROP_INDEX = FilterRule(match=r"^--extra-index-url", action="drop", replacement="", reason="unreachable")
GPU_ORT = FilterRule(match=r"^onnxruntime-gpu\b", action="replace", replacement="onnxruntime", reason="cpu")
DROP_ORT = FilterRule(match=r"^onnxruntime", action="drop", replacement="", reason="second")
UNUSED = FilterRule(match=r"^nothing-matches$", action="drop", replacement="", reason="stale")


def test_drop_replace_and_comments() -> None:
    text = (
        "# a comment\n"
        "\n"
        "--extra-index-url https://nightly.invalid/simple\n"
        "numpy>=1.26  # inline comment\n"
        "   \n"
        "onnxruntime-gpu==1.18\n"
        "  # indented comment\n"
        "pillow\n"
    )
    report = filter_requirements(text, (DROP_INDEX, GPU_ORT, UNUSED))
    assert report.text == "numpy>=1.26\nonnxruntime==1.18\npillow\n"
    assert report.applied == (
        ("--extra-index-url https://nightly.invalid/simple", "drop", "unreachable"),
        ("onnxruntime-gpu==1.18", "replace", "cpu"),
    )
    assert report.unused == (UNUSED,)


def test_first_matching_rule_wins() -> None:
    report = filter_requirements("onnxruntime-gpu\n", (GPU_ORT, DROP_ORT))
    assert report.text == "onnxruntime\n"
    assert report.unused == (DROP_ORT,)
    assert filter_requirements("onnxruntime-gpu\n", (DROP_ORT, GPU_ORT)).text == ""


def test_hash_without_space_is_not_a_comment() -> None:
    # pip treats '#' as a comment only after whitespace; URL fragments must survive
    line = "pkg @ https://example.invalid/pkg.whl#sha256=abc"
    assert filter_requirements(line + "\n", ()).text == line + "\n"


def test_no_rules_no_lines() -> None:
    report = filter_requirements("", (DROP_INDEX,))
    assert (report.text, report.applied, report.unused) == ("", (), (DROP_INDEX,))


def test_load_cpu_recipe() -> None:
    recipe = load_recipe(PROJECT_ROOT / "images" / "cpu")
    assert recipe.name == "cpu"
    assert recipe.base == "harness-base:bookworm"
    assert recipe.torch == ("torch==2.13.0",)
    assert "torch==2.13.0" in recipe.constraints
    assert [r.action for r in recipe.filters] == ["drop", "replace", "replace"]
    assert recipe.filters[1].replacement == "onnxruntime"
    assert recipe.text.startswith("# CPU recipe")
    report = filter_requirements("--extra-index-url x\nonnxruntime-gpu>=1\nrembg[gpu]==2\n", recipe.filters)
    assert report.text == "onnxruntime\nrembg==2\n"


def _recipe(tmp_path: Path, rule: str) -> Path:
    (tmp_path / "recipe.yaml").write_text(f"base: debian:12\nfilters:\n{rule}")
    return tmp_path


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("  - {match: '^(unclosed', action: drop, reason: r}\n", "filters[0].match"),
        ("  - {match: '^x', action: replace, reason: r}\n", "filters[0].with"),
        ("  - {match: '^x', action: delete, reason: r}\n", "filters[0].action"),
        ("  - {match: '^x', action: drop}\n", "filters[0].reason"),
        ("  - {match: '^x', reason: r, why: w}\n", "filters[0].why"),
    ],
)
def test_bad_rules(tmp_path: Path, rule: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe(_recipe(tmp_path, rule))
    assert info.value.key == key


def test_missing_constraints_file(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("base: debian:12\nconstraints: nope.txt\n")
    with pytest.raises(ConfigError) as info:
        load_recipe(tmp_path)
    assert info.value.key == "constraints"


def test_minimal_recipe_defaults(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(tmp_path, "  - {match: '^x', reason: r}\n"))
    assert (recipe.python, recipe.torch, recipe.constraints) == ("python3", (), "")
    assert recipe.filters == (FilterRule(match="^x", action="drop", replacement="", reason="r"),)

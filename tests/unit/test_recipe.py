from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT
from harness.context import deps_requirements
from harness.errors import BuildFailed, ConfigError
from harness.evaluate import classify_build_failure
from harness.model import Verdict
from harness.recipe import FilterRule, SdistPolicy, filter_requirements, load_recipe
from harness.reqpolicy import DROPPED_INDEX

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
    allow = FilterRule(match=r"^pkg @ ", action="allow", replacement="", reason="vouched for")
    assert filter_requirements(line + "\n", (allow,)).text == line + "\n"


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
    assert recipe.sdists == SdistPolicy()  # wheels only
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


# -- the policy on what upstream's requirements may ask (issue 13) --------------------------


@pytest.mark.parametrize(
    "line",
    [
        "--index-url http://10.0.0.1/simple",
        "-i http://evil.invalid/simple",
        "--extra-index-url=http://evil.invalid/simple",
        "--find-links http://evil.invalid/wheels",
        "-f ./wheels",
        "--trusted-host evil.invalid",
    ],
)
def test_index_options_are_dropped_with_the_reason(line: str) -> None:
    report = filter_requirements(f"{line}\nnumpy\n", ())
    assert report.text == "numpy\n" and report.refused == ()
    assert report.applied == ((line, "drop", DROPPED_INDEX),)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("evilpkg @ http://evil.invalid:8000/evilpkg.tar.gz", "direct URL"),
        ("evilpkg[extra]@https://evil.invalid/e.whl", "direct URL"),
        ("https://evil.invalid/evilpkg-1.0.tar.gz", "direct URL"),
        ("git+https://github.com/x/evilpkg", "direct URL"),
        ("./vendor/evilpkg", "local path"),
        ("evilpkg-1.0.tar.gz", "local path or archive"),
        ("-e git+https://evil.invalid/x#egg=x", "option -e"),
        ("--editable .", "option --editable"),
        ("-r other.txt", "option -r"),
        ("--no-binary :all:", "option --no-binary"),
        ("evilpkg==1 --config-settings=--build-option=x", "build options"),
    ],
)
def test_direct_references_and_install_options_are_refused(line: str, why: str) -> None:
    report = filter_requirements(f"numpy\n{line}\n", ())
    assert report.text == "numpy\n"
    assert len(report.refused) == 1 and report.refused[0][0] == line and why in report.refused[0][1]


def test_an_allow_rule_keeps_a_line_as_written_with_its_reason() -> None:
    allow = FilterRule(match=r"^--index-url http://127", action="allow", replacement="", reason="the test's index")
    report = filter_requirements("--index-url http://127.0.0.1:9/simple\n--pre\nnumpy\n", (allow,))
    assert report.text == "--index-url http://127.0.0.1:9/simple\n--pre\nnumpy\n"
    assert report.applied == (("--index-url http://127.0.0.1:9/simple", "allow", "the test's index"),)


def test_a_replacement_meets_the_policy_too() -> None:
    to_url = FilterRule(match=r"^pkg$", action="replace", replacement="pkg @ https://x.invalid/p.whl", reason="r")
    assert filter_requirements("pkg\n", (to_url,)).refused[0][0] == "pkg @ https://x.invalid/p.whl"


def test_a_refused_line_stops_the_plan_before_any_build_naming_the_line(tmp_path: Path) -> None:
    recipe = load_recipe(PROJECT_ROOT / "images" / "cpu")
    report = filter_requirements("numpy\nevilpkg @ http://evil.invalid/evilpkg.tar.gz\n", recipe.filters)
    with pytest.raises(BuildFailed) as info:
        deps_requirements(report, recipe)
    assert info.value.stage == "deps"
    assert "'evilpkg @ http://evil.invalid/evilpkg.tar.gz' refused by recipe cpu" in str(info.value)
    assert classify_build_failure(info.value.stage, info.value.log_tail) is Verdict.FAIL


@pytest.mark.parametrize("text", ["", "\n", "# nothing to install\n", "--extra-index-url https://x.example/simple\n"])
def test_no_requirement_left_means_no_pip_options_either(text: str) -> None:
    """pip given options and no requirement fails ("You must give at least one requirement"): the
    GPU machine's upstream has an empty requirements.txt, and its deps build failed so."""
    cpu = load_recipe(PROJECT_ROOT / "images" / "cpu")
    assert "--only-binary" not in deps_requirements(filter_requirements(text, ()), cpu)


def test_sdists_wheels_only_by_default_and_per_recipe(tmp_path: Path) -> None:
    cpu = load_recipe(PROJECT_ROOT / "images" / "cpu")
    assert cpu.sdists == SdistPolicy()
    assert deps_requirements(filter_requirements("numpy\n", ()), cpu) == "--only-binary :all:\nnumpy\n"
    some = load_recipe(
        _recipe(tmp_path, "  - {match: '^x', reason: r}\nsdists: {allow: [chumpy, insightface], reason: no wheels}\n")
    )
    assert some.sdists.pip_lines() == ("--only-binary :all:", "--no-binary chumpy,insightface")
    assert "chumpy, insightface built from source: no wheels" in some.sdists.describe()
    for variant in ("cpu-wan2gp", "cu128"):
        real = load_recipe(PROJECT_ROOT / "images" / variant).sdists
        assert real.allow_all and real.pip_lines() == () and "insightface" in real.reason


@pytest.mark.parametrize(
    ("sdists", "key"),
    [
        ("sdists: {allow: some}\n", "sdists.allow"),
        ("sdists: {allow: []}\n", "sdists.allow"),
        ("sdists: {allow: all}\n", "sdists.reason"),
        ("sdists: {allow: all, reason: r, why: w}\n", "sdists.why"),
    ],
)
def test_bad_sdists(tmp_path: Path, sdists: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe(_recipe(tmp_path, "  - {match: '^x', reason: r}\n" + sdists))
    assert info.value.key == key

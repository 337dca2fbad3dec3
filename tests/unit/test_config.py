from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT, Config, load_config
from harness.errors import EXIT_USAGE, ConfigError
from harness.yamlio import MAX_CONFIG_BYTES

CASE = "    - {id: t2v, model: t2v_tiny}\n"


def write(
    tmp_path: Path,
    *,
    top: str = "",
    run: str = "",
    defaults: str = "",
    cases: str = CASE,
    upstream: str = "  url: ./up\n",
    gpu: str = "none",
) -> Path:
    (tmp_path / "up").mkdir(exist_ok=True)
    text = (
        f"upstream:\n{upstream}run:\n  gpu: {gpu}\n{run}{top}"
        f"suite:\n  defaults:\n    steps: 2\n{defaults}  cases:\n{cases}"
    )
    path = tmp_path / "harness.yaml"
    path.write_text(text)
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == EXIT_USAGE
    return info.value


def test_minimal_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, defaults="    resolution: 64x48\n    frames: 9\n"))
    assert isinstance(cfg, Config)
    assert cfg.upstream_url == str(tmp_path / "up")
    assert cfg.recipe_dir == PROJECT_ROOT / "images" / "cpu"
    assert cfg.repo == "harness/wan2gp"
    assert cfg.gpu == "none"
    assert cfg.state_dir == tmp_path / ".harness"
    assert cfg.mirror_dir == tmp_path / ".harness" / "upstream.git"
    (case,) = cfg.suite.cases
    assert (case.id, case.model, case.width, case.height, case.frames, case.steps) == ("t2v", "t2v_tiny", 64, 48, 9, 2)
    assert case.guide_video is None and not cfg.suite.requires_gpu


def test_case_overrides_defaults_and_paths_resolve(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "guide.mp4").write_bytes(b"x")
    cases = CASE + "    - {id: v, model: vace, steps: 7, guide_video: in/guide.mp4, requires_gpu: true}\n"
    cfg = load_config(write(tmp_path, cases=cases, top="state_dir: st\n"))
    assert [c.steps for c in cfg.suite.cases] == [2, 7]
    assert cfg.suite.cases[1].guide_video == str(tmp_path / "in" / "guide.mp4")
    assert cfg.suite.requires_gpu
    assert cfg.state_dir == tmp_path / "st"


def test_remote_url_kept(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, upstream="  url: https://example.invalid/x.git\n"))
    assert cfg.upstream_url == "https://example.invalid/x.git"


def test_suite_digest_follows_cases(tmp_path: Path) -> None:
    suite = load_config(write(tmp_path)).suite
    assert suite.digest() == load_config(write(tmp_path)).suite.digest()
    changed = dataclasses.replace(suite, cases=(dataclasses.replace(suite.cases[0], steps=3),))
    assert changed.digest() != suite.digest()
    reseeded = load_config(write(tmp_path, cases="    - {id: t2v, model: t2v_tiny, seed: 1}\n")).suite
    assert reseeded.digest() != suite.digest()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"top": "extra: 1\n"}, "extra"),
        ({"run": "  gpux: nvidia\n"}, "run.gpux"),
        ({"cases": "    - {id: a, model: m, colour: red}\n"}, "suite.cases[0].colour"),
        ({"run": '  timeout_s: "x"\n'}, "run.timeout_s"),
        ({"run": "  timeout_s: true\n"}, "run.timeout_s"),
        ({"run": "  timeout_s: 1\n"}, "run.timeout_s"),
        ({"cases": "    - {id: a, model: m, frames: -1}\n"}, "suite.cases[0].frames"),
        ({"cases": "    - {id: a, model: m, resolution: 64by48}\n"}, "suite.cases[0].resolution"),
        ({"cases": "    - {id: a, model: m, resolution: 4x4}\n"}, "suite.cases[0].resolution"),
        ({"gpu": "cuda"}, "run.gpu"),
        ({"upstream": "  mirror_dir: m\n"}, "upstream.url"),
        ({"cases": "    []\n"}, "suite.cases"),
        ({"cases": CASE + CASE}, "suite.cases"),
        ({"cases": "    - {id: a, model: m, guide_video: nope.mp4}\n"}, "suite.cases[0].guide_video"),
        ({"cases": "    - {id: 'a b', model: m}\n"}, "suite.cases[0].id"),
        ({"top": "image: {repo: 'Bad Repo'}\n"}, "image.repo"),
        ({"top": "image: {recipe: nosuchrecipe}\n"}, "image.recipe"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, kwargs: dict[str, str], key: str) -> None:
    err = config_error(write(tmp_path, **kwargs))
    assert err.key == key
    assert f": {key}: " in str(err)
    assert str(tmp_path / "harness.yaml") in str(err)


def test_gpu_error_lists_allowed(tmp_path: Path) -> None:
    assert "auto, nvidia, devices, none" in str(config_error(write(tmp_path, gpu="cuda")))


def test_duplicate_case_id_named(tmp_path: Path) -> None:
    assert "'t2v' appears twice" in str(config_error(write(tmp_path, cases=CASE + CASE)))


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, run="  timeout_s: 60\n  timeout_s: 70\n")
    err = config_error(path)
    assert err.key == "(syntax)"
    assert "duplicate key 'timeout_s'" in str(err)


def test_python_tag_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "harness.yaml"
    path.write_text(f"upstream:\n  url: !!python/object/apply:os.system ['touch {marker}']\n")
    err = config_error(path)
    assert err.key == "(syntax)"
    assert not marker.exists()


def test_oversized_file(tmp_path: Path) -> None:
    path = write(tmp_path)
    with path.open("a") as fh:
        fh.write("#" * MAX_CONFIG_BYTES + "\n")
    err = config_error(path)
    assert err.key == "(file)"
    assert "at most" in str(err)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(textwrap.dedent("- a\n- b\n"))
    assert config_error(path).key == "(top level)"


def test_missing_file(tmp_path: Path) -> None:
    assert config_error(tmp_path / "absent.yaml").key == "(file)"


@pytest.mark.parametrize(
    "kwargs", [{"upstream": "  url: null\n"}, {"cases": "    - {id: null, model: m}\n"}], ids=["url", "case-id"]
)
def test_null_required_value_is_config_error(tmp_path: Path, kwargs: dict[str, str]) -> None:
    config_error(write(tmp_path, **kwargs))


def test_unhashable_yaml_key_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("? [a, b]\n: 1\n")
    config_error(path)


@pytest.mark.parametrize(
    ("defaults", "cases", "key"),
    [
        ("    frames: -1\n", CASE, "suite.defaults.frames"),
        ("    frames: many\n", CASE, "suite.defaults.frames"),
        ("    resolution: 64by48\n", CASE, "suite.defaults.resolution"),
        ("    guide_video: nope.mp4\n", CASE, "suite.defaults.guide_video"),
        ("    frames: 9\n", "    - {id: a, model: m, frames: -1}\n", "suite.cases[0].frames"),
    ],
)
def test_an_error_names_the_key_the_user_wrote(tmp_path: Path, defaults: str, cases: str, key: str) -> None:
    err = config_error(write(tmp_path, defaults=defaults, cases=cases))
    assert err.key == key, str(err)


@pytest.mark.parametrize("recipe", ["cpu-wan2gp", "images/cpu-wan2gp"])
def test_a_bundled_recipe_by_name_or_as_the_readme_writes_it(tmp_path: Path, recipe: str) -> None:
    cfg = load_config(write(tmp_path, top=f"image: {{recipe: {recipe}}}\n"))
    assert cfg.recipe_dir == PROJECT_ROOT / "images" / "cpu-wan2gp"


@pytest.mark.parametrize(
    ("recipe", "beside"),
    [("cpu-wan2gp", "cpu-wan2gp"), ("images/cpu-wan2gp", "images/cpu-wan2gp"), ("./images/cpu", "images/cpu")],
)
def test_a_recipe_beside_the_config_wins(tmp_path: Path, recipe: str, beside: str) -> None:
    mine = tmp_path / beside
    mine.mkdir(parents=True)
    (mine / "recipe.yaml").write_text("base: x\n")
    assert load_config(write(tmp_path, top=f"image: {{recipe: {recipe}}}\n")).recipe_dir == mine


def test_an_unknown_recipe_lists_the_bundled_ones(tmp_path: Path) -> None:
    err = config_error(write(tmp_path, top="image: {recipe: images/nosuch}\n"))
    assert err.key == "image.recipe"
    assert "cpu, cpu-wan2gp, cu128" in str(err)


def test_a_state_dir_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    err = config_error(write(tmp_path, top="state_dir: afile/state\n"))
    assert err.key == "state_dir" and "afile" in str(err)


def test_a_folder_given_as_the_config_file(tmp_path: Path) -> None:
    err = config_error(tmp_path)
    assert "is a folder" in str(err)


def test_a_missing_config_says_how_to_point_at_one(tmp_path: Path) -> None:
    err = config_error(tmp_path / "harness.yaml")
    assert "-c PATH" in str(err) and "HARNESS_CONFIG" in str(err)


@pytest.mark.parametrize("folder", ["/", "/etc", "/usr", "/var", "/lib", "/tmp", "/root", "/home", "/proc", "/dev"])
def test_a_system_folder_as_state_dir_is_refused(tmp_path: Path, folder: str) -> None:
    """`state_dir: /` wrote /state.db, /runs and /upstream.git."""
    err = config_error(write(tmp_path, top=f"state_dir: {folder}\n"))
    assert err.key == "state_dir" and "system folder" in str(err)


def test_a_link_to_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root-link").symlink_to("/")
    err = config_error(write(tmp_path, top="state_dir: root-link\n"))
    assert err.key == "state_dir" and "system folder" in str(err)


def test_a_non_empty_folder_that_is_no_harness_state_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    err = config_error(write(tmp_path, top="state_dir: project\n"))
    assert err.key == "state_dir" and "notes.txt" in str(err) and "state.db" in str(err)
    assert [p.name for p in (tmp_path / "project").iterdir()] == ["notes.txt"]


def test_the_config_folder_itself_is_no_state(tmp_path: Path) -> None:
    err = config_error(write(tmp_path, top="state_dir: .\n"))
    assert err.key == "state_dir" and "harness.yaml" in str(err)


@pytest.mark.parametrize("marker", ["state.db", "upstream.git", "runs", "crashes"])
def test_an_existing_harness_state_is_accepted(tmp_path: Path, marker: str) -> None:
    """A state folder holds the store, or what harness makes before it: the mirror, runs, crash reports."""
    (tmp_path / "state" / marker).mkdir(parents=True)
    (tmp_path / "state" / "backup-of-mine.db").write_text("")
    assert load_config(write(tmp_path, top="state_dir: state\n")).state_dir == tmp_path / "state"


@pytest.mark.parametrize("lock", ["upstream.git.lock", "wrapper.git.lock", "wrapper-0123456789ab.git.lock"])
def test_a_folder_holding_only_a_mirrors_lock_is_still_harnesss(tmp_path: Path, lock: str) -> None:
    """An --offline command that found no mirror left only the mirror's lock: the next command
    refused the folder as someone else's."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / lock).write_text("")
    assert load_config(write(tmp_path, top="state_dir: state\n")).state_dir == tmp_path / "state"
    (tmp_path / "state" / lock).unlink()
    (tmp_path / "state" / "other.git.lock").write_text("")  # a lock of no mirror of harness's
    assert "other.git.lock" in str(config_error(write(tmp_path, top="state_dir: state\n")))


@pytest.mark.parametrize("existing", [True, False])
def test_an_empty_or_new_folder_is_accepted(tmp_path: Path, existing: bool) -> None:
    if existing:
        (tmp_path / "state").mkdir()
    assert load_config(write(tmp_path, top="state_dir: state\n")).state_dir == tmp_path / "state"

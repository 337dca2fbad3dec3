"""Wrapper mode: the `wrapper:` section, the pair's image (tree, tag, labels, key), the in-image
hand-over of the wrapper's results, and the use cases over fakes (patch conflict, records by pair)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.config import load_config
from harness.context import WrapperTree, plan_commit, wrapper_context_tree
from harness.errors import ConfigError, PatchConflict, UsageError
from harness.model import Verdict
from harness.ops.build_and_test import build_and_test
from harness.ops.probe import Sides
from harness.plan import load_plan
from harness.runner import wrapper as in_image
from harness.runplan import WRAPPER_DIR, suite_container
from harness.tarball import TreeEntry
from tests.unit.fakes import FakeUpstream, make_world, record, sha, sha_of, unit_config

WRAPPER = "wrapper:\n  url: ./wrapper\n  command: python run_baseline.py --output-dir {out}\n"


def _config(tmp_path: Path, extra: str = WRAPPER) -> Path:
    unit_config(tmp_path)
    path = tmp_path / "harness.yaml"
    path.write_text(path.read_text() + extra)
    return path


def test_the_wrapper_section_has_defaults(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path))
    assert cfg.wrapper is not None
    assert (cfg.wrapper.ref, cfg.wrapper.upstream_dir, cfg.wrapper.results) == ("HEAD", "Wan2GP", "results.json")
    assert cfg.wrapper.url == str(tmp_path / "wrapper")
    assert cfg.wrapper.mirror_dir == tmp_path / "state" / "wrapper.git"
    assert cfg.wrapper.requirements is None and cfg.wrapper.patches is None


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ("wrapper:\n  url: w\n  command: python t.py\n", "wrapper.command", "{out}"),
        ("wrapper:\n  url: w\n  command: t {out}\n  upstream_dir: ../up\n", "wrapper.upstream_dir", "relative folder"),
        ("wrapper:\n  url: w\n  command: t {out}\n  results: /abs.json\n", "wrapper.results", "relative to {out}"),
        ("wrapper:\n  url: w\n  command: t {out}\n  patches: nowhere\n", "wrapper.patches", "not an existing folder"),
        ("wrapper:\n  command: t {out}\n", "wrapper.url", "required"),
        ("wrapper:\n  url: w\n  command: t {out}\n  side: x\n", "wrapper", "side"),
    ],
)
def test_a_bad_wrapper_section_names_the_key(tmp_path: Path, section: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, section))
    assert key in str(info.value) and says in str(info.value)
    assert info.value.exit_code >= 128


def test_a_derived_contract_needs_a_wrapper(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    path.write_text(path.read_text().replace("contract: ./contract.yaml", "contract: derived"))
    with pytest.raises(ConfigError, match=r"contract.*wrapper"):
        load_config(path)


def _entry(path: str, data: bytes = b"x", mode: int = 0o100644) -> TreeEntry:
    return TreeEntry(path=path, mode=mode, data=data)


def test_the_context_tree_replaces_the_wrappers_copy_of_upstream() -> None:
    wrapper = [_entry("headless.py"), _entry("Wan2GP/wgp.py", b"old vendored"), _entry("Wan2GP"), _entry("Wan2GPx.py")]
    upstream = [_entry("wgp.py", b"new"), _entry("defaults/t2v.json")]
    tree = {e.path: e for e in wrapper_context_tree(wrapper, upstream, "Wan2GP")}
    assert set(tree) == {
        "wrapper/headless.py",
        "wrapper/Wan2GPx.py",
        "wrapper/Wan2GP/wgp.py",
        "wrapper/Wan2GP/defaults/t2v.json",
        "wan2gp",
    }
    assert tree["wrapper/Wan2GP/wgp.py"].data == b"new"  # upstream's, never the vendored copy
    assert (tree["wan2gp"].mode, tree["wan2gp"].data) == (0o120000, b"wrapper/Wan2GP")


def test_the_pair_image_carries_both_shas(tmp_path: Path) -> None:
    from harness.context import plan_deps, plan_env
    from harness.model import Commit
    from harness.recipe import FilterReport, load_recipe
    from tests.unit.test_context import HOST

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "images" / "cpu")
    host = HOST
    env = plan_env(recipe, host, "harness/w")
    deps = plan_deps(env, FilterReport(text="numpy\n", applied=(), unused=(), refused=()), recipe, host, "harness/w")
    up, w1, w2 = (Commit(sha=sha(c), message="m", author="a", date="d") for c in "abc")

    def spec(wrapper: WrapperTree | None):  # type: ignore[no-untyped-def]
        kwargs = dict(deps=deps, recipe=recipe, host=host, repo="harness/w", source="u", created="t", pip_freeze="")
        return plan_commit(commit=up, overlays=(("m.json", b"{}"),), wrapper=wrapper, **kwargs)  # type: ignore[arg-type]

    own = spec(None)
    pair = spec(WrapperTree(commit=w1, url="w", upstream_dir="Wan2GP"))
    assert own.tag == f"harness/w:{sha('a')[:12]}" and own.tree_root == "opt/wan2gp/"
    assert pair.tag == f"harness/w:{sha('a')[:12]}-{sha('b')[:12]}" and pair.tree_root == "opt/"
    assert dict(pair.labels)["harness.wrapper"] == sha("b") and dict(pair.labels)["harness.commit"] == sha("a")
    assert ("opt/wrapper/Wan2GP/finetunes/m.json", b"{}") in pair.files  # overlays inside the wrapper's upstream
    keys = {
        own.key,
        pair.key,
        spec(WrapperTree(commit=w2, url="w", upstream_dir="Wan2GP")).key,
        spec(WrapperTree(commit=w1, url="w", upstream_dir="Wan2GP", patched_tree="f" * 40)).key,
    }
    assert len(keys) == 4  # another wrapper commit or another patched tree is another image


def test_the_container_runs_the_wrappers_command(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path))
    plan = load_plan(cfg, ref="c1", level="baseline")
    from harness.runplan import GpuPlan

    common = dict(
        suite=cfg.suite, limits=cfg.limits, model_cache=None, timeout_s=5.0, image="i", run_id="r", run_dir="/d"
    )
    gpu = GpuPlan(mode="none", reason="test")
    run = suite_container(**common, labels={}, gpu=gpu, smoke=False, wrapper=plan.test.wrapper)  # type: ignore[arg-type]
    args = run.request.command
    assert args[args.index("--root") + 1] == WRAPPER_DIR
    assert args[args.index("--wrapper-command") + 1] == "python run_baseline.py --output-dir {out}"
    smoke = suite_container(**common, labels={}, gpu=gpu, smoke=True, wrapper=plan.test.wrapper)  # type: ignore[arg-type]
    assert "--wrapper-command" not in smoke.request.command  # smoke imports upstream with harness's runner


SPEC = [
    {"id": "vace", "settings": {"model_type": "vace_14B"}},
    {"id": "t2v", "settings": {"model_type": "t2v"}},
    {"id": "t2v-big", "settings": {"model_type": "t2v"}},
]


def test_rows_find_their_case_by_id_or_by_a_model_only_one_case_has() -> None:
    rows: list[object] = [
        {"model": "vace_14B", "status": "success"},
        {"id": "t2v-big", "model": "t2v", "status": "failed"},
        {"model": "t2v", "status": "success"},  # two cases have t2v: which one is not guessed
        {"case_id": "t2v", "status": "success"},
        "not a row",
    ]
    in_image.match_cases(rows, SPEC)
    assert [r.get("case_id") if isinstance(r, dict) else None for r in rows] == ["vace", "t2v-big", None, "t2v", None]


def test_the_wrappers_error_is_its_last_error_line() -> None:
    tail = ["loading", "Traceback (most recent call last):", '  File "x.py"', "ImportError: cannot import name 'g'", ""]
    assert in_image.last_error(tail) == "ImportError: cannot import name 'g'"
    assert in_image.last_error(["all fine", "done"]) == "done"
    assert in_image.last_error([]) == "no output"


def test_a_video_outside_the_output_folder_is_copied_in(tmp_path: Path) -> None:
    root, out = tmp_path / "wrapper", tmp_path / "out"
    (root / "outputs").mkdir(parents=True)
    out.mkdir()
    (root / "outputs" / "a.mp4").write_bytes(b"video")
    (out / "b.mp4").write_bytes(b"video")
    rows: list[dict[str, object]] = [
        {"output_path": "outputs/a.mp4"},
        {"output_path": str(out / "b.mp4")},
        {"output_path": None},
    ]
    for index, row in enumerate(rows):
        in_image._collect(row, root, out, index)
    assert rows[0] == {"output_path": str(out / "wrapper-videos" / "0-a.mp4"), "wrapper_output_path": "outputs/a.mp4"}
    assert (out / "wrapper-videos" / "0-a.mp4").read_bytes() == b"video"
    assert rows[1] == {"output_path": str(out / "b.mp4")} and rows[2] == {"output_path": None}


def test_the_newest_results_file_wins(tmp_path: Path) -> None:
    import os

    for n, name in enumerate(("run-a", "run-b")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"n": n}))
        os.utime(tmp_path / name / "results.json", ns=(10**9 * (n + 1), 10**9 * (n + 1)))
    assert in_image.newest(tmp_path, "*/results.json") == tmp_path / "run-b" / "results.json"
    assert in_image.newest(tmp_path, "nothing/*.json") is None


def test_a_patch_that_no_longer_applies_is_the_pairs_fail_before_any_build(tmp_path: Path) -> None:
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / "0001-keep.patch").write_text("--- a/wgp.py\n+++ b/wgp.py\n@@ -1,1 +1,2 @@\n x = 1\n+y = 2\n")
    cfg = load_config(_config(tmp_path, WRAPPER + "  patches: patches\n"))
    conflict = PatchConflict(patch="0001-keep.patch", file="wgp.py", hunk="@@ -1,1 +1,2 @@", detail="no", commit="c1")
    upstream = FakeUpstream(["c1"], patch_conflicts={"c1": conflict})
    world = dataclasses.replace(
        make_world(tmp_path, upstream), wrapper=FakeUpstream(["w1"], refs={"HEAD": sha_of("w1")})
    )
    result = build_and_test(load_plan(cfg, ref="c1", level="baseline"), world)
    assert result.record.verdict is Verdict.FAIL
    assert result.record.summary.startswith("patch_conflict: 0001-keep.patch")
    assert result.record.wrapper == sha_of("w1") and result.built is None  # nothing was built


def test_a_probe_reuses_only_a_record_of_the_same_pair() -> None:
    up, wrap = sha("a"), sha("b")
    walk_upstream, walk_wrapper = Sides(side="upstream", fixed=wrap), Sides(side="wrapper", fixed=up)
    same = dataclasses.replace(record(up, "sha256:1", "r1"), wrapper=wrap)
    other = dataclasses.replace(record(up, "sha256:1", "r2"), wrapper=sha("c"))
    assert walk_upstream.matches(same, up) and not walk_upstream.matches(other, up)
    assert walk_wrapper.matches(same, wrap) and not walk_wrapper.matches(other, wrap)
    assert walk_wrapper.upstream_of(wrap) == up and walk_upstream.upstream_of(up) == up
    assert not Sides().matches(same, up) and Sides().matches(record(up, "sha256:1", "r3"), up)


def test_with_a_wrapper_only_its_verdict_gates_production() -> None:
    from harness.model import RunKey
    from harness.promotion import refusal
    from tests.unit.fakes import CONTRACT_HASH, SUITE_HASH

    up = sha("a")
    own = record(up, "sha256:1", "r1")  # harness's own runner passed it
    pair = dataclasses.replace(record(up, "sha256:1", "r2"), wrapper=sha("b"))
    key = RunKey(suite_hash=SUITE_HASH, contract_hash=CONTRACT_HASH, level="baseline", deeper=True, image_id="sha256:1")
    wrapped, plain = dataclasses.replace(key, wrapper_mode=True), dataclasses.replace(key, wrapper_mode=False)
    assert "harness's own runner, not the wrapper" in (refusal("sha256:1", [own], wrapped) or "")
    assert refusal("sha256:1", [pair, own], wrapped) is None
    assert refusal("sha256:1", [own], plain) is None
    assert "judged by a wrapper" in (refusal("sha256:1", [pair], plain) or "")


def test_the_plan_shows_the_wrapper_and_a_probe_of_its_side_moves_only_its_ref(tmp_path: Path) -> None:
    plan = load_plan(load_config(_config(tmp_path)), ref="c1", level="baseline", wrapper_ref="w7")
    assert any(line.startswith("  wrapper   ") and "at w7" in line for line in plan.lines())
    doc = plan.to_dict()["wrapper"]
    assert isinstance(doc, dict) and doc["ref"] == "w7" and doc["series"] == []
    probe = Sides(side="wrapper", fixed=sha("a")).plan(plan, sha("b"))
    assert (probe.ref, probe.build.wrapper, probe.test.wrapper) == (sha("a"), probe.wrapper, probe.wrapper)
    assert probe.wrapper is not None and probe.wrapper.ref == sha("b")
    (tmp_path / "own").mkdir()
    own = load_plan(load_config(_config(tmp_path / "own", "")), ref="c1", level="baseline")
    assert own.to_dict()["wrapper"] is None and "harness's own runner" in own.lines()[-1]
    with pytest.raises(UsageError, match="no `wrapper:` section"):
        load_plan(load_config(_config(tmp_path / "own", "")), ref="c1", wrapper_ref="w7")


def test_gc_removes_a_pair_image_by_its_pair_tag() -> None:
    from harness.ops.gc import _remove_image
    from harness.services import ImageInfo

    class Removes:
        def __init__(self) -> None:
            self.removed: list[str] = []

        def remove_image(self, ref: str) -> bool:
            self.removed.append(ref)
            return True

    up, wrap = sha("a"), sha("b")
    pair = ImageInfo(
        id="sha256:p",
        tags=(f"r:{up[:12]}-{wrap[:12]}", f"r:{up[:12]}", "other:prod"),
        labels={"harness.commit": up, "harness.wrapper": wrap},
        created="",
    )
    engine = Removes()
    problems = _remove_image(engine, pair)  # type: ignore[arg-type]
    assert engine.removed == [f"r:{up[:12]}-{wrap[:12]}"]  # its own tag only: the rest is not this pair's
    assert [p.split(":")[0] for p in problems] == ["r", "other"]

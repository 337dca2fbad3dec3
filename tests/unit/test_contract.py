"""The contract check (harness/contract.py) on small sources: one test per break class."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.contract import (
    DEFAULT_CONTRACT,
    Contract,
    FunctionItem,
    ItemResult,
    check,
    entry_points,
    load_contract,
    parse_module,
)
from harness.errors import ConfigError

BASE = """
server_config = {"save_path": "outputs"}
if True:
    save_path = "outputs"

def generate_video(task, send_cmd, prompt, seed=-1, resolution="832x480", state=None, **unused):
    pass

def get_model_def(model_type):
    return None

def apply_changes(state, choice, other=1):
    pass

def load():
    global wan_model
    wan_model = 1
"""
CONTRACT = Contract(
    files=("wgp.py",),
    functions=(
        FunctionItem(
            names=("generate_video", "generate_media"),
            positional=("task", "send_cmd"),
            keyword=("prompt", "seed", "state"),
        ),
        FunctionItem(names=("get_model_def",), positional=("model_type",), keyword=()),
        FunctionItem(names=("apply_changes",), positional=("state", "choice"), keyword=()),
    ),
    globals=("server_config", "save_path", "wan_model"),
    models=("vace_14B",),
    entry_points=("api", "process", "inprocess"),
)


def run(source: str, models: set[str] | None = None, overlays: set[str] | None = None) -> dict[str, ItemResult]:
    results = check(
        CONTRACT,
        {"wgp.py": source},
        model_ids={"vace_14B"} if models is None else models,
        overlay_ids=overlays or set(),
        detected={"inprocess"},
    )
    return {r.name.split(" / ")[0]: r for r in results}


def reasons(result: ItemResult) -> str:
    return " | ".join(result.reasons)


def test_unchanged_source_holds() -> None:
    results = run(BASE)
    assert all(r.status == "ok" for r in results.values()), results


def test_function_removed() -> None:
    r = run(BASE.replace("def apply_changes(state, choice, other=1):\n    pass\n", ""))["apply_changes"]
    assert r.status == "missing" and reasons(r) == "`apply_changes` removed"


def test_function_renamed_to_an_accepted_alternative() -> None:
    r = run(BASE.replace("def generate_video(", "def generate_media("))["generate_video"]
    assert r.status == "ok" and "found as `generate_media`" in reasons(r)


def test_function_renamed_to_something_else() -> None:
    r = run(BASE.replace("def generate_video(", "def make_video("))["generate_video"]
    assert r.status == "missing" and "none of `generate_video`, `generate_media` is defined" in reasons(r)


def test_parameter_renamed() -> None:
    source = BASE.replace("def apply_changes(state, choice, other=1)", "def apply_changes(state, choice, *, othr=1)")
    source = source.replace(
        'prompt, seed=-1, resolution="832x480", state=None, **unused',
        'prompt, rng_seed=-1, resolution="832x480", state=None',
    )
    r = run(source)["generate_video"]
    assert r.status == "changed" and "parameter `seed` no longer accepted (renamed to `rng_seed`?)" in reasons(r)


def test_parameter_removed() -> None:
    source = BASE.replace('prompt, seed=-1, resolution="832x480", state=None, **unused', "prompt, state=None")
    r = run(source)["generate_video"]
    assert r.status == "changed" and "parameter `seed` no longer accepted (renamed?)" in reasons(r)


def test_required_parameter_added() -> None:
    r = run(BASE.replace("def get_model_def(model_type):", "def get_model_def(model_type, family):"))["get_model_def"]
    assert r.status == "changed" and reasons(r) == "new required parameter `family` without default"


def test_default_changed_is_not_a_break() -> None:
    assert run(BASE.replace("seed=-1", "seed=0"))["generate_video"].status == "ok"


def test_positional_parameter_moved() -> None:
    r = run(BASE.replace("def apply_changes(state, choice, other=1)", "def apply_changes(choice, state, other=1)"))
    assert "positional parameter 1 is now `choice` (was `state`)" in reasons(r["apply_changes"])


def test_kwargs_accepts_any_keyword() -> None:
    source = BASE.replace('prompt, seed=-1, resolution="832x480", state=None, **unused', "prompt, **settings")
    assert run(source)["generate_video"].status == "ok"


def test_model_definition_removed_unless_an_overlay_has_it() -> None:
    r = run(BASE, models=set())["vace_14B"]
    assert r.status == "missing"
    assert reasons(r) == "model `vace_14B` not defined in defaults/ or finetunes/ (and not in the suite's overlays)"
    assert run(BASE, models=set(), overlays={"vace_14B"})["vace_14B"].status == "ok"


def test_global_removed_and_globals_in_blocks_and_global_statements() -> None:
    assert run(BASE)["save_path"].status == "ok" and run(BASE)["wan_model"].status == "ok"
    r = run(BASE.replace('server_config = {"save_path": "outputs"}', ""))["server_config"]
    assert r.status == "missing" and "module global `server_config` no longer defined" in reasons(r)


def test_syntax_error_is_reported_not_raised() -> None:
    results = check(CONTRACT, {"wgp.py": BASE + "\ndef broken(:\n"}, model_ids={"vace_14B"}, overlay_ids=set())
    [source] = [r for r in results if r.kind == "source"]
    assert source.status == "error" and "wgp.py does not parse: line" in reasons(source)


def test_entry_points_detected_statically() -> None:
    functions = set(parse_module(BASE, "wgp.py")[0])
    assert entry_points({"wgp.py": BASE}, functions) == {"inprocess"}
    with_process = BASE + "\nparser.add_argument('--process')\n"
    assert entry_points({"wgp.py": with_process, "shared/api.py": ""}, functions) == {"api", "process", "inprocess"}


@pytest.mark.parametrize("fills", [True, False])
def test_fills_all_settings_waives_new_required_parameters(fills: bool) -> None:
    contract = Contract(
        files=("wgp.py",),
        functions=(FunctionItem(names=("f",), positional=(), keyword=("a",), fills_all_settings=fills),),
        globals=(),
        models=(),
        entry_points=(),
    )
    [result] = check(contract, {"wgp.py": "def f(a, b):\n    pass\n"}, model_ids=set(), overlay_ids=set())
    assert result.status == ("ok" if fills else "changed")


def derived_check(item: FunctionItem, source: str) -> ItemResult:
    contract = Contract(files=("wgp.py",), functions=(item,), globals=(), models=(), entry_points=())
    [result] = check(contract, {"wgp.py": source}, model_ids=set(), overlay_ids=set(), detected=set())
    return result


COUNTED = FunctionItem(names=("init_model_def",), positional=(), keyword=("strict",), arity=2)


def test_counted_arity_holds_while_the_function_takes_that_many() -> None:
    assert derived_check(COUNTED, "def init_model_def(model_type, model_def, strict=False): pass\n").status == "ok"
    assert derived_check(COUNTED, "def init_model_def(model_type, *defs, strict=False): pass\n").status == "ok"


def test_counted_arity_breaks_when_a_positional_parameter_is_lost() -> None:
    result = derived_check(COUNTED, "def init_model_def(model_type, *, strict=False): pass\n")
    assert result.status == "changed"
    assert reasons(result) == "takes 1 positional parameters, the wrapper passes 2"


def test_counted_keywords_break_when_one_is_removed() -> None:
    result = derived_check(COUNTED, "def init_model_def(model_type, model_def, strictness=False): pass\n")
    assert reasons(result) == "parameter `strict` no longer accepted (renamed to `strictness`?)"


def test_counted_arity_and_a_new_required_parameter() -> None:
    source = "def init_model_def(model_type, model_def, extra, *, flag, strict=False): pass\n"
    assert reasons(derived_check(COUNTED, source)) == (
        "new required parameter `extra` without default | new required parameter `flag` without default"
    )
    star_args = dataclasses.replace(COUNTED, unknown_arity=True)  # *args may fill `extra`, never `flag`
    assert reasons(derived_check(star_args, source)) == "new required parameter `flag` without default"
    star_kw = dataclasses.replace(COUNTED, unknown_keywords=True)  # **kw may fill either
    assert derived_check(star_kw, source).status == "ok"


def test_a_contract_file_with_counted_items_and_provenance_loads(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "functions:\n  - {names: [load_models], arity: 1, unknown_arity: true, unknown_keywords: true}\n"
        "globals: [server_config]\n"
        "provenance:\n  wrapper: w\n  sha: abc\n"
        "  items: [{kind: global, name: server_config, where: ['a.py:3']}]\n"
    )
    contract = load_contract(tmp_path / "c.yaml")
    assert contract.functions == (
        FunctionItem(
            names=("load_models",), positional=(), keyword=(), arity=1, unknown_arity=True, unknown_keywords=True
        ),
    )
    assert contract.provenance is not None and contract.provenance.of("global", "server_config") == ("a.py:3",)
    assert load_contract(DEFAULT_CONTRACT).provenance is None  # the bundled one loads as before


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("functions: [{names: [f], arity: -1}]\n", "functions[0].arity"),
        ("functions: [{names: [f], arity: two}]\n", "functions[0].arity"),
        ("provenance: {items: [{kind: class, name: x}]}\n", "provenance.items[0].kind"),
        ("provenance: {items: x}\n", "provenance.items"),
    ],
)
def test_bad_counted_items_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_contract(tmp_path / "c.yaml")
    assert key in str(info.value)


def test_a_counted_function_wgp_only_imports_is_present_unchecked() -> None:
    source = "from shared.utils import parse_loras_multipliers\n"
    item = FunctionItem(names=("parse_loras_multipliers",), positional=(), keyword=("nb_phases",), arity=3)
    result = derived_check(item, source)
    assert result.status == "ok" and "signature is not checked" in reasons(result)
    written = dataclasses.replace(item, arity=None)  # a written item names a function wgp defines: as before
    assert derived_check(written, source).status == "missing"

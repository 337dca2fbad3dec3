"""The deriver (harness/derive.py) on small wrapper sources: one test per way of reaching `wgp`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import FunctionItem, load_contract
from harness.contract_yaml import digest, render
from harness.derive import Derivation, command_scripts, derive
from harness.ops.derive import derive_contract
from harness.wgp_uses import uses
from tests.unit.fakes import FakeUpstream, sha_of


def derived(source: str, *, path: str = "wrapper.py", **more: str) -> Derivation:
    return derive(sources={path: source, **more}, configs={}, wrapper="file:///w", sha="a" * 40)


def functions(d: Derivation) -> dict[str, FunctionItem]:
    return {f.names[0]: f for f in d.contract.functions}


def test_module_attributes_called_read_and_assigned() -> None:
    d = derived(
        "import wgp\n"
        "def load(key, state):\n"
        "    wgp.wan_model, wgp.offloadobj = wgp.load_models(key)\n"
        "    wgp.reload_needed = False\n"
        "    if wgp.transformer_type != key:\n"
        "        wgp.unload_model_if_needed(state)\n"
        "    wgp.offloadobj.release()\n"
    )
    assert functions(d) == {
        "load_models": FunctionItem(names=("load_models",), positional=(), keyword=(), arity=1),
        "unload_model_if_needed": FunctionItem(names=("unload_model_if_needed",), positional=(), keyword=(), arity=1),
    }
    assert d.contract.globals == ("offloadobj", "reload_needed", "transformer_type", "wan_model")
    assert d.contract.provenance is not None
    assert d.contract.provenance.of("global", "offloadobj") == ("wrapper.py:3", "wrapper.py:7")
    assert d.contract.provenance.of("function", "load_models") == ("wrapper.py:3",)


def test_item_assignment_on_a_global_is_an_assignment() -> None:
    found = uses(
        "w.py",
        "import wgp\nwgp.server_config['save_path'] = '/out'\nwgp.models_def[k]['svi'] = True\n"
        "wgp.wan_model.model_def = {}\ndel wgp.models_def[k]\n",
    )
    assert [(u.name, u.kind, u.where) for u in found] == [
        ("server_config", "assign", "w.py:2"),
        ("models_def", "assign", "w.py:3"),
        ("wan_model", "assign", "w.py:4"),
        ("models_def", "assign", "w.py:5"),
    ]


def test_import_as_and_from_import_aliases() -> None:
    d = derived(
        "import wgp as w\n"
        "from wgp import generate_video as gen, get_model_def, server_config\n"
        "def run(task, send):\n"
        "    gen(task, send, prompt='p', seed=1)\n"
        "    gen(task, send, prompt='q', video_length=5)\n"
        "    w.setup_loras('t2v', None, 'loras', '', split_linear_modules_map=None)\n"
        "    return server_config, get_model_def\n"
    )
    assert functions(d) == {
        "generate_video": FunctionItem(
            names=("generate_video",), positional=(), keyword=("prompt", "seed", "video_length"), arity=2
        ),
        "setup_loras": FunctionItem(
            names=("setup_loras",), positional=(), keyword=("split_linear_modules_map",), arity=4
        ),
    }
    # imported (so needed) but never called: the import alone needs the name to exist
    assert d.contract.globals == ("get_model_def", "server_config")


@pytest.mark.parametrize(
    "bind",
    [
        "m = importlib.import_module('wgp')",
        "m = sys.modules['wgp']",
        "m = sys.modules.get('wgp')",
        "m = __import__('wgp')",
        "import wgp\nm = wgp",
        "import wgp\nfirst = wgp\nm = first",  # a handle of a handle
    ],
)
def test_calls_through_a_module_handle_kept_in_a_variable(bind: str) -> None:
    d = derived(f"import importlib, sys\n{bind}\nm.get_model_def('t2v')\nm.server_config['x'] = 1\n")
    assert set(functions(d)) == {"get_model_def"} and d.contract.globals == ("server_config",)


def test_a_handle_kept_on_self_and_a_function_kept_in_a_variable() -> None:
    d = derived(
        "import wgp\n"
        "class Orchestrator:\n"
        "    def __init__(self):\n"
        "        from wgp import apply_changes\n"
        "        self.wgp = wgp\n"
        "        self._apply = apply_changes\n"
        "        self._orig = wgp.load_wan_model\n"
        "    def go(self):\n"
        "        self.wgp.get_default_settings('t2v')\n"
        "        self._apply(self.state, save_path_choice='out')\n"
        "        self._orig(1, 2, 3, dtype=None)\n"
    )
    assert functions(d) == {
        "apply_changes": FunctionItem(names=("apply_changes",), positional=(), keyword=("save_path_choice",), arity=1),
        "get_default_settings": FunctionItem(names=("get_default_settings",), positional=(), keyword=(), arity=1),
        "load_wan_model": FunctionItem(names=("load_wan_model",), positional=(), keyword=("dtype",), arity=3),
    }


def test_star_args_and_star_kwargs_make_the_count_and_keywords_unknown() -> None:
    d = derived("import wgp\ndef f(*a, **k):\n    wgp.generate_video(task, *a, seed=1, **k)\n    wgp.load_models(*a)\n")
    assert functions(d)["generate_video"] == FunctionItem(
        names=("generate_video",),
        positional=(),
        keyword=("seed",),
        arity=1,  # at least `task`
        unknown_arity=True,
        unknown_keywords=True,
    )
    assert functions(d)["load_models"].arity == 0 and functions(d)["load_models"].unknown_arity


def test_keyword_only_uses() -> None:
    d = derived("import wgp\nwgp.get_model_recursive_prop(model_type='t2v', prop='modules', return_list=True)\n")
    item = functions(d)["get_model_recursive_prop"]
    assert item.arity == 0 and item.keyword == ("model_type", "prop", "return_list") and not item.unknown_keywords


def test_getattr_setattr_count_hasattr_and_getattr_with_a_default_do_not() -> None:
    found = uses(
        "w.py",
        "import wgp\nx = getattr(wgp, 'save_path')\nsetattr(wgp, 'image_save_path', x)\n"
        "if not hasattr(wgp, 'boost'):\n    pass\ny = getattr(wgp, 'transformer_type', None)\n",
    )
    assert [(u.name, u.kind) for u in found] == [("save_path", "read"), ("image_save_path", "assign")]


def test_names_that_are_not_the_wgp_module_do_not_count() -> None:
    d = derived(
        "import shared.wgp_utils as wgp_utils\nfrom .wgp import local_thing\nwgp = object()\n"
        "wgp_utils.helper(1)\nwgp.attribute\n"
    )
    assert d.contract.functions == () and d.contract.globals == ()


def test_models_come_from_test_scripts_and_json_configs_only() -> None:
    d = derive(
        sources={
            "tests/test_flow.py": "run(model='vace_14B')\ncfg = {'model_type': 't2v', 'model': {'x': 1}}\n",
            "scripts/smoke.py": "generate(model_type='i2v_2_2')\n",
            "worker.py": "model = 'qwen_image_edit_20B'\nrun(model='not_counted')\n",
        },
        configs={"configs/cases.json": '{"cases": [{"model": "optimised-t2i"}, {"model": "has spaces"}]}'},
        wrapper="w",
        sha="a" * 40,
        test_files=command_scripts("python ./scripts/smoke.py --out {out}"),
    )
    assert d.contract.models == ("i2v_2_2", "optimised-t2i", "t2v", "vace_14B")
    assert d.contract.provenance is not None
    assert d.contract.provenance.of("model", "optimised-t2i") == ("configs/cases.json",)
    assert d.contract.provenance.of("model", "vace_14B") == ("tests/test_flow.py:1",)


def test_a_file_that_does_not_parse_is_said_not_judged() -> None:
    d = derive(
        sources={"bad.py": "def broken(:\n", "good.py": "import wgp\nwgp.load_models('t2v')\n"},
        configs={"bad.json": "{"},
        wrapper="w",
        sha="a" * 40,
    )
    assert set(functions(d)) == {"load_models"}
    assert [s.split(":")[0] for s in d.skipped] == ["bad.py", "bad.json"]


def test_rendered_contract_loads_back_the_same_and_its_digest_is_stable(tmp_path: Path) -> None:
    source = "import wgp\nwgp.generate_video(t, s, *a, seed=1, **k)\nwgp.server_config['a'] = 1\n"
    contract = derived(source).contract
    text = render(contract)
    (tmp_path / "c.yaml").write_text(text)
    assert load_contract(tmp_path / "c.yaml") == contract
    assert render(derived(source).contract) == text and digest(text) == digest(render(contract))
    assert digest(text) != digest(render(derived(source + "wgp.load_models(1)\n").contract))


def test_the_use_case_reads_the_wrappers_tree_without_its_vendored_upstream() -> None:
    wrapper = FakeUpstream(
        ["w1"],
        files={
            "w1": {
                "headless.py": b"import wgp\nwgp.load_models('t2v')\n",
                "Wan2GP/wgp.py": b"import wgp\nwgp.never_counted()\n",  # upstream's own code
                "Wan2GP/defaults/vace_14B.json": b'{"model": "vendored"}',
                "tests/test_x.py": b"run(model_type='vace_14B')\nstub(model='test_model')\n",
                "notes.json": b"\xff\xfe",
                "README.md": b"import wgp\nwgp.nope()\n",
            }
        },
    )
    result = derive_contract(wrapper, "w1", url="file:///w", upstream_dir="Wan2GP")
    assert [f.names[0] for f in result.contract.functions] == ["load_models"]
    assert result.contract.models == ("vace_14B",)
    assert result.skipped == (
        "notes.json: not UTF-8",
        "model `test_model` (tests/test_x.py:2): not defined by the wrapper's vendored upstream, left out",
    )
    assert result.commit.sha == sha_of("w1") and result.text == render(result.contract)
    by_sha = derive_contract(wrapper, sha_of("w1"), url="file:///w", upstream_dir="Wan2GP")
    assert by_sha.digest == result.digest  # the same commit by another ref: the same contract
    assert result.summary().startswith("1 functions, 0 globals, 1 models") and sha_of("w1")[:12] in result.source


def test_command_scripts() -> None:
    assert command_scripts("python tests/run.py --out {out} && ./check.py") == ("tests/run.py", "check.py")
    assert command_scripts("python 'unbalanced") == ()


def test_uses_the_wrapper_copes_without_are_not_judged() -> None:
    d = derived(
        "import wgp\n"
        "try:\n"
        "    _orig = wgp.load_wan_model\n"
        "    def patched(*a):\n"
        "        wgp.get_base_model_type(a[0])\n"  # runs later, outside the try: judged
        "        return _orig(*a)\n"  # through a name bound only inside the try: not judged
        "    wgp.load_wan_model = patched\n"
        "except Exception as e:\n"
        "    log(e)\n"
        "try:\n"
        "    wgp.apply_changes(state)\n"
        "except Exception as e:\n"
        "    raise RuntimeError(e)\n"  # the failure propagates: judged
        "try:\n"
        "    from wgp import boost\n"
        "    setup = wgp.setup_loras\n"
        "    setup('t2v', None)\n"  # called inside the try: a caught failure loses loras, judged
        "except (ImportError, AttributeError):\n"
        "    boost = None\n"
    )
    assert set(functions(d)) == {"apply_changes", "get_base_model_type", "setup_loras"}
    assert d.contract.globals == ()
    assert d.contract.provenance is not None and d.contract.provenance.optional == ("boost", "load_wan_model")

"""Which files `weights pull` fetches for a suite, resolved from the JSON definitions (harness/modeldefs.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.config import PROJECT_ROOT
from harness.modeldefs import KEYS, downloads, merge, model_section, model_urls

HF = "https://huggingface.co/DeepBeepMeep/Wan2.1/resolve/main"
DEFS: dict[str, dict[str, Any]] = {
    "t2v": {"URLs": [f"{HF}/wan2.1_t2v_14B_mbf16.safetensors"]},
    "vace_14B": {"URLs": "t2v", "modules": [[f"{HF}/vace.safetensors"]]},
    "cocktail": {
        "URLs": ["https://huggingface.co/CCP6/FakeVace2.2/resolve/main/High.safetensors"],
        "URLs2": ["https://huggingface.co/CCP6/FakeVace2.2/resolve/main/Low.safetensors"],
        "loras": [f"{HF}/loras_accelerators/CausVid.safetensors"],
    },
}


def test_borrowed_weights_modules_loras_and_no_duplicates() -> None:
    urls = model_urls(DEFS, ["vace_14B", "cocktail", "t2v", "unknown"])
    assert urls == [
        f"{HF}/wan2.1_t2v_14B_mbf16.safetensors",
        f"{HF}/vace.safetensors",
        "https://huggingface.co/CCP6/FakeVace2.2/resolve/main/High.safetensors",
        "https://huggingface.co/CCP6/FakeVace2.2/resolve/main/Low.safetensors",
        f"{HF}/loras_accelerators/CausVid.safetensors",
    ]


def test_a_finetune_overrides_the_keys_it_names() -> None:
    merged = merge({"m": {"URLs": ["https://a/x"], "loras": ["https://a/l"]}}, {"m": {"URLs": ["https://b/y"]}})
    assert merged == {"m": {"URLs": ["https://b/y"], "loras": ["https://a/l"]}}


def test_a_file_name_that_leaves_the_cache_is_refused() -> None:
    planned, refused = downloads(
        ["https://h/a/b.safetensors?download=1", "https://h/a/..", "https://h/", "https://h/.x"]
    )
    assert [(d.url, d.name) for d in planned] == [("https://h/a/b.safetensors?download=1", "b.safetensors")]
    assert len(refused) == 3 and "'..'" in refused[0]


def test_not_a_definition() -> None:
    assert model_section(b"[1, 2]") is None and model_section(b"{bad") is None
    assert model_section(b'{"model": {"URLs": []}}') == {"URLs": []}


# -- the same list as the in-image resolution gave (wgp.get_model_def at import) ------------


def _old_urls(value: Any, resolve: Any, seen: set[str]) -> list[str]:
    """harness/runner/weights.py before issue 13, verbatim: it ran inside the commit image."""
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return [value]
        if value in seen:
            return []
        seen.add(value)
        definition = resolve(value) or {}
        return [u for key in KEYS for u in _old_urls(definition.get(key), resolve, seen)]
    if isinstance(value, list):
        return [u for item in value for u in _old_urls(item, resolve, seen)]
    return []


def _old_model_urls(wgp: Any, models: list[str]) -> list[str]:
    found: list[str] = []
    for model in models:
        definition = wgp.get_model_def(model) or {}
        found += _old_urls([definition.get(key) for key in KEYS], wgp.get_model_def, {model})
    return list(dict.fromkeys(found))


# Upstream's own definitions the seed overlays borrow from (shapes as in Wan2GP's defaults/).
SEED_UPSTREAM = {
    "t2v_2_2": {
        "model": {
            "architecture": "t2v_2_2",
            "URLs": [f"{HF}/wan2.2_t2v_high.safetensors"],
            "URLs2": [f"{HF}/wan2.2_t2v_low.safetensors"],
        }
    },
    "t2v": {"model": {"architecture": "t2v", "URLs": [f"{HF}/wan2.1_t2v_14B_mbf16.safetensors"]}},
    "vace_14B": {
        "model": {
            "architecture": "vace_14B",
            "modules": ["vace_14B"],
            "URLs": "t2v",
            "preload_URLs": [f"{HF}/vace_module.safetensors"],
        }
    },
}


def _tree(tmp_path: Path, defaults: dict[str, Path | dict[str, Any]], overlays: Path) -> Path:
    """An upstream tree as the commit image holds it: defaults/, overlays copied into finetunes/."""
    root = tmp_path / "tree"
    (root / "defaults").mkdir(parents=True)
    for name, doc in defaults.items():
        target = root / "defaults" / f"{name}.json"
        if isinstance(doc, Path):
            shutil.copy(doc, target)
        else:
            target.write_text(json.dumps(doc))
    shutil.copytree(overlays, root / "finetunes")
    shutil.copy(PROJECT_ROOT / "harness" / "sample" / "upstream" / "wgp.py", root / "wgp.py")
    return root


def _json_urls(root: Path, models: list[str]) -> list[str]:
    def read(folder: str) -> dict[str, dict[str, Any]]:
        found = {p.stem: model_section(p.read_bytes()) for p in (root / folder).glob("*.json")}
        return {k: v for k, v in found.items() if v is not None}

    return model_urls(merge(read("defaults"), read("finetunes")), models)


SAMPLE = PROJECT_ROOT / "harness" / "sample"
SEED = PROJECT_ROOT / "harness" / "suites" / "seed" / "overlays"


@pytest.mark.parametrize(
    ("suite", "models"),
    [
        ("sample", ["t2v_tiny", "vace_tiny", "optimised-t2i-tiny"]),
        ("seed", ["vace_14B", "vace_14B_fake_cocktail_2_2", "optimised-t2i"]),
    ],
)
def test_json_resolution_equals_the_old_in_image_one(tmp_path: Path, suite: str, models: list[str]) -> None:
    if suite == "sample":
        defaults: dict[str, Path | dict[str, Any]] = {
            p.stem: p for p in (SAMPLE / "upstream" / "defaults").glob("*.json")
        }
        root = _tree(tmp_path, defaults, SAMPLE / "overlays")
    else:
        root = _tree(tmp_path, dict(SEED_UPSTREAM), SEED)
    spec = importlib.util.spec_from_file_location("sample_wgp", root / "wgp.py")
    assert spec is not None and spec.loader is not None
    wgp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wgp)  # the sample's own get_model_def: finetunes/ first, then defaults/
    old = _old_model_urls(wgp, models)
    assert _json_urls(root, models) == old
    if suite == "seed":  # not vacuous: the borrowed ids, modules, URLs2 and loras all resolved
        assert len(old) == 10 and f"{HF}/vace_module.safetensors" in old

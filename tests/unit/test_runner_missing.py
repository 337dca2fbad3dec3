"""The runner names the weight files a failed case's model definition asks for and the cache lacks
(harness/runner/missing.py): the only ground for "weights missing" (infra)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.runner.missing import missing_weights

HF = "https://huggingface.co/org/repo/resolve/main/"


def _define(root: Path, folder: str, model: str, **spec: object) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / f"{model}.json").write_text(json.dumps({"model": spec}))


def test_alternatives_borrowed_models_and_needed_loras(tmp_path: Path) -> None:
    cache = tmp_path / "ckpts"
    cache.mkdir()
    _define(tmp_path, "defaults", "base", URLs=[HF + "base_bf16.safetensors", HF + "base_int8.safetensors"])
    _define(
        tmp_path,
        "finetunes",
        "vace",
        URLs="base",
        modules=[[HF + "vace_bf16.safetensors", HF + "vace_int8.safetensors"]],
        loras=[HF + "lora_a.safetensors", HF + "lora_b.safetensors"],
    )
    assert missing_weights(tmp_path, "vace", cache) == [
        "base_bf16.safetensors",
        "base_int8.safetensors",
        "vace_bf16.safetensors",
        "vace_int8.safetensors",
        "lora_a.safetensors",
        "lora_b.safetensors",
    ]
    for name in ("base_int8.safetensors", "vace_bf16.safetensors", "lora_a.safetensors"):
        (cache / name).write_bytes(b"w")
    assert missing_weights(tmp_path, "vace", cache) == ["lora_b.safetensors"]  # one alternative of each will do


def test_no_definition_or_no_urls_names_nothing(tmp_path: Path) -> None:
    _define(tmp_path, "defaults", "t2v_tiny", URLs=[])
    (tmp_path / "defaults" / "broken.json").write_text("{")
    assert missing_weights(tmp_path, "t2v_tiny", tmp_path / "ckpts") == []
    assert missing_weights(tmp_path, "broken", tmp_path / "ckpts") == []
    assert missing_weights(tmp_path, "unknown", tmp_path / "ckpts") == []

"""Which files `weights pull` fetches for a suite (harness/runner/weights.py, pure part)."""

from __future__ import annotations

from typing import Any

from harness.runner.weights import model_urls

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


class FakeWgp:
    def get_model_def(self, model: str) -> dict[str, Any] | None:
        return DEFS.get(model)


def test_borrowed_weights_modules_loras_and_no_duplicates() -> None:
    urls = model_urls(FakeWgp(), ["vace_14B", "cocktail", "t2v", "unknown"])
    assert urls == [
        f"{HF}/wan2.1_t2v_14B_mbf16.safetensors",
        f"{HF}/vace.safetensors",
        "https://huggingface.co/CCP6/FakeVace2.2/resolve/main/High.safetensors",
        "https://huggingface.co/CCP6/FakeVace2.2/resolve/main/Low.safetensors",
        f"{HF}/loras_accelerators/CausVid.safetensors",
    ]

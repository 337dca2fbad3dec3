"""Smoke level: import the upstream engine on the CPU the way the runner does and resolve the
suite's model definitions. No weights, no GPU, no generation.

Importing wgp on a machine without a GPU fails twice unless CUDA queries are stubbed first
(shared/attention.py asks for the device capability, models/wan/modules/t5.py uses
current_device() as a default argument, both at import). wgp also calls exit() - status 0 -
on an mmgp version mismatch: the import never finishes, and that is a FAIL, not a pass.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from . import entry


def stub_cuda() -> bool:
    """Make torch's CUDA queries answer on a CPU-only host; True when stubs were installed."""
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    if torch.cuda.is_available():
        return False
    cuda: Any = torch.cuda
    cuda.get_device_capability = lambda *args, **kwargs: (8, 0)
    cuda.get_device_name = lambda *args, **kwargs: "cpu (harness smoke stub)"
    cuda.current_device = lambda: 0
    return True


def smoke(root: Path, out: Path, spec: dict[str, Any]) -> int:
    models = list(dict.fromkeys(case["settings"]["model_type"] for case in spec["cases"]))
    doc: dict[str, Any] = {
        "level": "smoke",
        "entry_point": entry.detect(root),
        "import_finished": False,
        "cuda_stubbed": stub_cuda(),
        "models": {},
    }
    print(f"[harness-runner] smoke: importing wgp from {root} (entry point {doc['entry_point']})", flush=True)
    try:
        entry._enter(root)
        wgp = importlib.import_module("wgp")
        doc["import_finished"] = True
    except BaseException as exc:  # noqa: BLE001 - upstream may raise anything, even SystemExit
        doc["import_error"] = entry.describe(exc)
        wgp = None
    if wgp is not None:
        resolve = getattr(wgp, "get_model_def", None)
        for model in models:
            try:
                found = resolve(model) if resolve else None
                doc["models"][model] = "ok" if found else "not defined in defaults/ or finetunes/"
            except BaseException as exc:  # noqa: BLE001
                doc["models"][model] = entry.describe(exc)
            print(f"[harness-runner] smoke: model {model}: {doc['models'][model]}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2))
    ok = doc["import_finished"] and all(v == "ok" for v in doc["models"].values())
    print(f"[harness-runner] smoke: {'pass' if ok else 'fail'} {doc.get('import_error', '')}", flush=True)
    sys.stdout.flush()
    return 0 if ok else 1

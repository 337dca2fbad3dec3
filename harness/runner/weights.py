"""Weights level: download exactly the files the suite's models need into the model cache.

Runs in the commit image with the network allowed and the cache mounted read-write (the only
such run). URLs come from the model definitions upstream resolves (get_model_def, following
ids that borrow another model's weights); the Hugging Face token, if any, arrives in HF_TOKEN
at run time only. Files land in the cache under their base names, where wgp looks for them.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from . import entry, smoke

KEYS = ("URLs", "URLs2", "modules", "loras", "preload_URLs", "text_encoder_URLs")
_HF = re.compile(r"https://huggingface\.co/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")


def _urls(value: Any, resolve: Any, seen: set[str]) -> list[str]:
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return [value]
        if value in seen:
            return []
        seen.add(value)  # a model id whose weights this model borrows
        definition = resolve(value) or {}
        return [u for key in KEYS for u in _urls(definition.get(key), resolve, seen)]
    if isinstance(value, list):
        return [u for item in value for u in _urls(item, resolve, seen)]
    return []


def model_urls(wgp: Any, models: list[str]) -> list[str]:
    found: list[str] = []
    for model in models:
        definition = wgp.get_model_def(model) or {}
        found += _urls([definition.get(key) for key in KEYS], wgp.get_model_def, {model})
    return list(dict.fromkeys(found))


def _download(url: str, target: Path) -> int:
    token = os.environ.get("HF_TOKEN", "")
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token and _HF.match(url) else {}
    )
    tmp = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(request, timeout=60) as response, tmp.open("wb") as fh:
        shutil.copyfileobj(response, fh, length=1 << 20)
    tmp.replace(target)
    return target.stat().st_size


def pull(root: Path, cache: Path, out: Path, spec: dict[str, Any]) -> int:
    models = list(dict.fromkeys(case["settings"]["model_type"] for case in spec["cases"]))
    smoke.stub_cuda()
    entry._enter(root)
    wgp = importlib.import_module("wgp")
    urls = model_urls(wgp, models)
    print(f"[harness-runner] weights: {len(urls)} files for {', '.join(models)}", flush=True)
    report: dict[str, Any] = {"files": [], "total_bytes": 0, "errors": []}
    for index, url in enumerate(urls, 1):
        target = cache / url.rsplit("/", 1)[-1]
        try:
            size = target.stat().st_size if target.is_file() else _download(url, target)
            report["files"].append({"url": url, "path": str(target), "bytes": size})
            report["total_bytes"] += size
            print(f"[harness-runner] weights: {index}/{len(urls)} {target.name} {size / 2**30:.2f} GiB", flush=True)
        except OSError as exc:
            report["errors"].append(f"{url}: {exc}")
            print(f"[harness-runner] weights: {index}/{len(urls)} {target.name} FAILED: {exc}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.json").write_text(json.dumps(report, indent=2))
    print(
        f"[harness-runner] weights: total {report['total_bytes'] / 2**30:.2f} GiB, {len(report['errors'])} errors",
        flush=True,
    )
    return 1 if report["errors"] else 0


__all__ = ["entry", "model_urls", "pull"]

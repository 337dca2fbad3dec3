"""Which weight files a failed case's model definition names and the model cache lacks.

The host judges a failed case "weights missing" (infra, exit 125) only on this list: a code bug
that merely mentions huggingface.co in its error was skipped by `git bisect run` (issue 13).
The definitions are read as JSON data (finetunes/ then defaults/, as wgp's get_model_def does),
so nothing of upstream runs here. A list of URLs is alternatives (quantisations of one file:
any one present will do), except under `loras` and `preload_URLs`, where each file is needed;
a string that is not a URL names another model whose weights this one borrows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ALTERNATIVES = ("URLs", "URLs2", "modules", "text_encoder_URLs")
EACH_NEEDED = ("loras", "preload_URLs")


def definition(root: Path, model: str) -> dict[str, Any]:
    """The `model` mapping of a model's JSON definition ({} when there is none or it is not JSON)."""
    for folder in ("finetunes", "defaults"):
        path = root / folder / f"{model}.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found = doc.get("model") if isinstance(doc, dict) else None
        return found if isinstance(found, dict) else {}
    return {}


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _urls_missing(urls: list[str], have: set[str], *, each: bool) -> list[str]:
    """Each needed: those absent. Alternatives: none if any one is present, else all of them."""
    if each:
        return [_name(u) for u in urls if _name(u) not in have]
    return [] if any(_name(u) in have for u in urls) else [_name(u) for u in urls]


def _missing(value: Any, root: Path, have: set[str], seen: set[str], *, each: bool) -> list[str]:
    if isinstance(value, str):
        return _urls_missing([value], have, each=True) if _is_url(value) else _model_missing(root, value, have, seen)
    if not isinstance(value, list):
        return []
    found = _urls_missing([v for v in value if _is_url(v)], have, each=each)
    for item in value:
        if not _is_url(item):
            found += _missing(item, root, have, seen, each=each)
    return found


def _model_missing(root: Path, model: str, have: set[str], seen: set[str]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    spec = definition(root, model)
    found: list[str] = []
    for key in ALTERNATIVES + EACH_NEEDED:
        found += _missing(spec.get(key), root, have, seen, each=key in EACH_NEEDED)
    return found


def missing_weights(root: Path, model: str, cache: Path) -> list[str]:
    """File names `model`'s definition (and those it borrows from) names that `cache` lacks."""
    have = {p.name for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()
    return list(dict.fromkeys(_model_missing(root, model, have, set())))

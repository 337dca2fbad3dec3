"""Which files `weights pull` downloads, resolved from the model definitions as data.

A model is `defaults/<id>.json` with a `"model"` section; `finetunes/<id>.json` (the suite's
overlays land there too) overrides its keys. Reading these JSON files from git runs no
upstream code: `weights pull` never imports `wgp` (it would run with the token in reach).
A definition may borrow another model's weights by naming its id instead of a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYS = ("URLs", "URLs2", "modules", "loras", "preload_URLs", "text_encoder_URLs")
# A cache file name: the URL's last part, as wgp looks for it; nothing that walks out of the cache.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}\Z")

Definitions = Mapping[str, Mapping[str, Any]]  # model id -> its "model" section


@dataclass(frozen=True, kw_only=True)
class Download:
    url: str
    name: str  # file name in the cache


def model_section(data: bytes) -> dict[str, Any] | None:
    """The "model" section of one definition file, or None when it is not one."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    section = doc.get("model") if isinstance(doc, dict) else None
    return section if isinstance(section, dict) else None


def merge(defaults: Definitions, finetunes: Definitions) -> dict[str, dict[str, Any]]:
    """finetunes/<id>.json overrides the keys of defaults/<id>.json (wgp updates one with the other)."""
    merged = {model: dict(section) for model, section in defaults.items()}
    for model, section in finetunes.items():
        merged[model] = {**merged.get(model, {}), **section}
    return merged


def _urls(value: Any, definitions: Definitions, seen: set[str]) -> list[str]:
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return [value]
        if value in seen:
            return []
        seen.add(value)  # a model id whose weights this model borrows
        borrowed = definitions.get(value) or {}
        return [u for key in KEYS for u in _urls(borrowed.get(key), definitions, seen)]
    if isinstance(value, list):
        return [u for item in value for u in _urls(item, definitions, seen)]
    return []


def model_urls(definitions: Definitions, models: list[str]) -> list[str]:
    """Every URL the models name, directly or through borrowed ids, in order, once each."""
    found: list[str] = []
    for model in models:
        definition = definitions.get(model) or {}
        found += _urls([definition.get(key) for key in KEYS], definitions, {model})
    return list(dict.fromkeys(found))


def downloads(urls: list[str]) -> tuple[tuple[Download, ...], tuple[str, ...]]:
    """(what to download, URLs refused with why): a file name must stay inside the cache."""
    planned: list[Download] = []
    refused: list[str] = []
    for url in urls:
        name = url.split("?", 1)[0].rsplit("/", 1)[-1]
        if _FILE_NAME.match(name) and ".." not in name:
            planned.append(Download(url=url, name=name))
        else:
            refused.append(f"{url}: file name {name!r} is not a plain file name (letters, digits, . _ + -)")
    return tuple(planned), tuple(refused)

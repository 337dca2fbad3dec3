"""Image recipes (`images/<variant>/recipe.yaml`) and the requirement filters they carry.

A filter rule rewrites upstream's requirements.txt line by line; each rule says why it
exists. The filtered text is what the deps key hashes, so two commits whose requirements
differ only in lines a filter drops share one deps image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError
from harness.yamlio import Section, load_yaml_mapping

FilterAction = Literal["drop", "replace"]


@dataclass(frozen=True, kw_only=True)
class FilterRule:
    match: str  # regular expression searched in each stripped requirement line
    action: FilterAction
    replacement: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str
    folder: Path
    text: str  # recipe.yaml as written: part of the env key
    base: str
    python: str
    venv: str  # "create", or the path of an environment the base image already has
    apt_packages: tuple[str, ...]
    torch: tuple[str, ...]  # requirement lines installed in the env image
    pre_install: tuple[str, ...]  # shell commands run in the deps image before the requirements
    pip_options: tuple[str, ...]
    constraints: str
    filters: tuple[FilterRule, ...]


@dataclass(frozen=True, kw_only=True)
class FilterReport:
    text: str  # filtered requirements, one per line, comments and blanks removed
    applied: tuple[tuple[str, str, str], ...]  # (line, action, reason)
    unused: tuple[FilterRule, ...]  # rules that matched nothing: worth a look in the log


def load_recipe(folder: Path) -> Recipe:
    path = folder / "recipe.yaml"
    sec = Section(str(path), "", load_yaml_mapping(path))
    sec.check_keys(
        {"base", "python", "venv", "apt_packages", "torch", "pip_options", "constraints", "filters", "pre_install"}
    )
    constraints_name = sec.string("constraints")
    constraints = ""
    if constraints_name is not None:
        cpath = folder / constraints_name
        if not cpath.is_file():
            raise ConfigError(str(path), "constraints", f"{cpath} does not exist")
        constraints = cpath.read_text(encoding="utf-8")
    raw_filters = sec.data.get("filters") or []
    if not isinstance(raw_filters, list):
        raise ConfigError(str(path), "filters", "must be a list of {match, action, reason}")
    filters = tuple(_rule(Section(str(path), f"filters[{i}]", r)) for i, r in enumerate(raw_filters))
    return Recipe(
        name=folder.name,
        folder=folder,
        text=path.read_text(encoding="utf-8"),
        base=sec.string("base", required=True),
        python=sec.string("python", "python3"),
        venv=sec.string("venv", "create"),
        apt_packages=sec.strings("apt_packages"),
        torch=sec.strings("torch"),
        pre_install=sec.strings("pre_install"),
        pip_options=sec.strings("pip_options"),
        constraints=constraints,
        filters=filters,
    )


def _rule(sec: Section) -> FilterRule:
    sec.check_keys({"match", "action", "with", "reason"})
    pattern = sec.string("match", required=True)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(sec.source, sec.key("match"), f"not a regular expression: {exc}") from exc
    action = sec.choice("action", "drop", ("drop", "replace"))
    replacement = sec.string("with")
    if action == "replace" and not replacement:
        raise ConfigError(sec.source, sec.key("with"), "required when action is replace")
    return FilterRule(
        match=pattern,
        action=action,  # type: ignore[arg-type]
        replacement=replacement or "",
        reason=sec.string("reason", required=True),
    )


def filter_requirements(text: str, rules: tuple[FilterRule, ...]) -> FilterReport:
    """Apply `rules` to requirements text. The first matching rule wins for each line."""
    kept: list[str] = []
    applied: list[tuple[str, str, str]] = []
    used: set[int] = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        for index, rule in enumerate(rules):
            if re.search(rule.match, line):
                used.add(index)
                applied.append((line, rule.action, rule.reason))
                if rule.action == "replace":
                    kept.append(re.sub(rule.match, rule.replacement, line))
                break
        else:
            kept.append(line)
    unused = tuple(rule for index, rule in enumerate(rules) if index not in used)
    return FilterReport(text="".join(f"{line}\n" for line in kept), applied=tuple(applied), unused=unused)

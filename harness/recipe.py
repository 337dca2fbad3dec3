"""Image recipes (`images/<variant>/recipe.yaml`) and the requirement filters they carry.

A filter rule rewrites upstream's requirements.txt line by line; each rule says why it
exists. The filtered text is what the deps key hashes, so two commits whose requirements
differ only in lines a filter drops share one deps image. What no rule matched (or a
replacement wrote) then meets the policy of harness/reqpolicy.py: index options dropped,
direct URLs refused, unless a rule with `action: allow` keeps the line as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError
from harness.reqpolicy import decide
from harness.yamlio import Section, load_yaml_mapping

FilterAction = Literal["drop", "replace", "allow"]
FILTER_ACTIONS: tuple[FilterAction, ...] = ("drop", "replace", "allow")


@dataclass(frozen=True, kw_only=True)
class FilterRule:
    match: str  # regular expression searched in each stripped requirement line
    action: FilterAction
    replacement: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SdistPolicy:
    """Which packages may build from source in the deps build (their setup.py runs as root, with
    the network). Default: none, pip's `--only-binary :all:`."""

    allow_all: bool = False
    names: tuple[str, ...] = ()  # these build from source (pip --no-binary: never their wheels)
    reason: str = ""

    def pip_lines(self) -> tuple[str, ...]:
        """Option lines put first in the deps image's requirements.txt."""
        if self.allow_all:
            return ()
        return ("--only-binary :all:", *((f"--no-binary {','.join(self.names)}",) if self.names else ()))

    def describe(self) -> str:
        if self.allow_all:
            return f"sdists allowed (setup.py runs at build time): {self.reason}"
        if self.names:
            return f"wheels only, except {', '.join(self.names)} built from source: {self.reason}"
        return "wheels only (pip --only-binary :all:): no setup.py runs at build time"


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
    sdists: SdistPolicy = SdistPolicy()


@dataclass(frozen=True, kw_only=True)
class FilterReport:
    text: str  # filtered requirements, one per line, comments and blanks removed
    applied: tuple[tuple[str, str, str], ...]  # (line, action, reason)
    unused: tuple[FilterRule, ...]  # rules that matched nothing: worth a look in the log
    refused: tuple[tuple[str, str], ...] = ()  # (line, why): the commit fails before any build


def load_recipe(folder: Path) -> Recipe:
    path = folder / "recipe.yaml"
    sec = Section(str(path), "", load_yaml_mapping(path))
    sec.check_keys(
        {
            "base",
            "python",
            "venv",
            "apt_packages",
            "torch",
            "pip_options",
            "constraints",
            "filters",
            "pre_install",
            "sdists",
        }
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
        sdists=_sdists(sec.section("sdists")),
    )


def _sdists(sec: Section) -> SdistPolicy:
    sec.check_keys({"allow", "reason"})
    allow = sec.data.get("allow")
    if allow is None:
        return SdistPolicy()
    if allow != "all" and not (isinstance(allow, list) and allow and all(isinstance(n, str) for n in allow)):
        raise ConfigError(sec.source, sec.key("allow"), f"{allow!r}: 'all' or a list of package names")
    reason = sec.string("reason", required=True)
    return SdistPolicy(allow_all=allow == "all", names=() if allow == "all" else tuple(allow), reason=reason)


def _rule(sec: Section) -> FilterRule:
    sec.check_keys({"match", "action", "with", "reason"})
    pattern = sec.string("match", required=True)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(sec.source, sec.key("match"), f"not a regular expression: {exc}") from exc
    action = sec.choice("action", "drop", FILTER_ACTIONS)
    replacement = sec.string("with")
    if action == "replace" and not replacement:
        raise ConfigError(sec.source, sec.key("with"), "required when action is replace")
    return FilterRule(
        match=pattern,
        action=action,
        replacement=replacement or "",
        reason=sec.string("reason", required=True),
    )


def filter_requirements(text: str, rules: tuple[FilterRule, ...]) -> FilterReport:
    """Apply `rules` to requirements text, then the policy (reqpolicy.decide) to what is left.
    The first matching rule wins for each line; a line an `allow` rule matched is kept as written."""
    kept: list[str] = []
    applied: list[tuple[str, str, str]] = []
    refused: list[tuple[str, str]] = []
    used: set[int] = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        hit = next(((i, r) for i, r in enumerate(rules) if re.search(r.match, line)), None)
        if hit is not None:
            index, rule = hit
            used.add(index)
            applied.append((line, rule.action, rule.reason))
            if rule.action == "allow":  # the recipe vouches for this line as written
                kept.append(line)
                continue
            if rule.action == "drop":
                continue
            line = re.sub(rule.match, rule.replacement, line)  # a replacement meets the policy too
        decision, why = decide(line)
        if decision == "keep":
            kept.append(line)
        elif decision == "drop":
            applied.append((line, "drop", why))
        else:
            refused.append((line, why))
    unused = tuple(rule for index, rule in enumerate(rules) if index not in used)
    return FilterReport(
        text="".join(f"{line}\n" for line in kept), applied=tuple(applied), unused=unused, refused=tuple(refused)
    )

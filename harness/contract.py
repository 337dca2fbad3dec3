"""The integration contract (pure): what the wrapper relies on, checked by parsing upstream.

Nothing is imported or checked out: sources come from git as text and are read with `ast`,
so a check costs a parse (well under a second for a 14k-line wgp.py) and no GPU.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError
from harness.yamlio import Section, load_yaml_mapping

DEFAULT_CONTRACT = Path(__file__).resolve().parent / "contract.yaml"
Status = Literal["ok", "missing", "changed", "error"]
ItemKind = Literal["function", "global", "model", "entry_point", "source", "tree"]  # tree: ops/check.py, unsafe entries
_DERIVED_KINDS: tuple[ItemKind, ...] = ("function", "global", "model")  # what a wrapper's source yields
_DERIVED_KEYS = ("arity", "unknown_arity", "unknown_keywords")  # a function item's keys a derived contract adds
_PROCESS_FLAG = re.compile(r"""["']--process["']""")


@dataclass(frozen=True, kw_only=True)
class FunctionItem:
    names: tuple[str, ...]
    positional: tuple[str, ...]
    keyword: tuple[str, ...]
    # The wrapper passes every setting (get_default_settings merged with its own), so a new
    # parameter without default is filled for it and is not a break by itself.
    fills_all_settings: bool = False
    # A derived contract knows how many arguments a call passes, not which parameter each
    # lands on: `arity` is the most any call passes positionally (a `*args` not counted: at
    # least that many). `unknown_arity`: some call passes `*args`, so any positional parameter
    # may be filled; `unknown_keywords`: some call passes `**kw`, so any parameter may be.
    arity: int | None = None
    unknown_arity: bool = False
    unknown_keywords: bool = False


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a derived contract comes from: the wrapper's commit and, per item, the file:line
    of each use. `check` never judges by it; it is shown beside a broken item."""

    wrapper: str
    sha: str  # the wrapper's commit (not the ref: the same commit is the same contract)
    where: tuple[tuple[ItemKind, str, tuple[str, ...]], ...]  # (kind, name, ("file:line", ...))
    optional: tuple[str, ...] = ()  # names used only where the wrapper copes with their absence

    def of(self, kind: str, name: str) -> tuple[str, ...]:
        return next((w for k, n, w in self.where if k == kind and n == name), ())


@dataclass(frozen=True, kw_only=True)
class Contract:
    files: tuple[str, ...]
    functions: tuple[FunctionItem, ...]
    globals: tuple[str, ...]
    models: tuple[str, ...]
    entry_points: tuple[str, ...]
    provenance: Provenance | None = None  # set when derived from a wrapper's source


@dataclass(frozen=True, kw_only=True)
class Signature:
    name: str
    file: str
    line: int
    params: tuple[tuple[str, str, bool], ...]  # (name, kind: posonly|pos|kwonly, has default)
    varargs: bool
    varkw: bool

    def render(self) -> str:
        parts = [f"{n}{'=…' if d else ''}" if k != "kwonly" else f"*{n}{'=…' if d else ''}" for n, k, d in self.params]
        return f"{self.name}({', '.join(parts)}{', *args' if self.varargs else ''}{', **kw' if self.varkw else ''})"


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    kind: ItemKind
    name: str
    status: Status
    reasons: tuple[str, ...] = ()


def load_contract(path: Path = DEFAULT_CONTRACT) -> Contract:
    sec = Section(str(path), "", load_yaml_mapping(path))
    sec.check_keys({"files", "functions", "globals", "models", "entry_points", "provenance"})
    raw = sec.data.get("functions") or []
    if not isinstance(raw, list):
        raise ConfigError(str(path), "functions", "must be a list")
    return Contract(
        files=sec.strings("files") or ("wgp.py",),
        functions=tuple(_function_item(Section(str(path), f"functions[{i}]", item)) for i, item in enumerate(raw)),
        globals=sec.strings("globals"),
        models=sec.strings("models"),
        entry_points=sec.strings("entry_points"),
        provenance=_provenance(sec.section("provenance")) if "provenance" in sec.data else None,
    )


def _function_item(fs: Section) -> FunctionItem:
    fs.check_keys({"names", "positional", "keyword", "fills_all_settings", *_DERIVED_KEYS})
    names = fs.strings("names")
    if not names:
        raise ConfigError(fs.source, fs.key("names"), "give at least one name")
    return FunctionItem(
        names=names,
        positional=fs.strings("positional"),
        keyword=fs.strings("keyword"),
        fills_all_settings=fs.boolean("fills_all_settings", False),
        arity=fs.integer("arity", 0, low=0, high=255) if "arity" in fs.data else None,
        unknown_arity=fs.boolean("unknown_arity", False),
        unknown_keywords=fs.boolean("unknown_keywords", False),
    )


def _provenance(sec: Section) -> Provenance:
    sec.check_keys({"wrapper", "sha", "items", "optional"})
    raw = sec.data.get("items") or []
    if not isinstance(raw, list):
        raise ConfigError(sec.source, sec.key("items"), "must be a list of {kind, name, where}")
    where = []
    for i, item in enumerate(raw):
        its = Section(sec.source, sec.key(f"items[{i}]"), item)
        its.check_keys({"kind", "name", "where"})
        kind = its.choice("kind", "function", _DERIVED_KINDS)
        where.append((kind, str(its.string("name", required=True)), its.strings("where")))
    return Provenance(
        wrapper=sec.string("wrapper", ""),
        sha=sec.string("sha", ""),
        where=tuple(where),
        optional=sec.strings("optional"),
    )


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, file: str) -> Signature:
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    first_default = len(positional) - len(a.defaults)
    params = [
        (p.arg, "posonly" if i < len(a.posonlyargs) else "pos", i >= first_default) for i, p in enumerate(positional)
    ]
    params += [(p.arg, "kwonly", d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return Signature(
        name=node.name,
        file=file,
        line=node.lineno,
        params=tuple(params),
        varargs=a.vararg is not None,
        varkw=a.kwarg is not None,
    )


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at module level: top level and inside top-level if/try/with/for
    blocks (wgp.py defines `server_config` in an if/else), never inside defs or classes."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try):
            for field in ("body", "orelse", "finalbody"):
                out += _module_level(getattr(node, field, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                out += _module_level(handler.body)
    return out


def parse_module(source: str, file: str) -> tuple[dict[str, Signature], set[str]]:
    """Top-level functions and module-level names of one file (SyntaxError propagates)."""
    tree = ast.parse(source, filename=file)
    functions: dict[str, Signature] = {}
    names: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[node.name] = _signature(node, file)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    for inner in ast.walk(tree):
        if isinstance(inner, ast.Global):
            names |= set(inner.names)  # set inside functions: a module global at run time
    return functions, names


def check_function(
    item: FunctionItem, functions: Mapping[str, Signature], names: Collection[str] = frozenset()
) -> ItemResult:
    """`names`: the module's other names. A counted (derived) item calls through the module,
    where a function wgp imports (`from shared.utils... import parse_loras_multipliers`) works
    the same as one it defines; its signature is then not at hand."""
    found = next((n for n in item.names if n in functions), None)
    label = " / ".join(item.names)
    if found is None and item.arity is not None and (bound := next((n for n in item.names if n in names), None)):
        reason = f"`{bound}` is bound in the module, not defined there: its signature is not checked"
        return ItemResult(kind="function", name=label, status="ok", reasons=(reason,))
    if found is None:
        return ItemResult(kind="function", name=label, status="missing", reasons=(_absent(item.names),))
    sig = functions[found]
    notes = [f"found as `{found}` (alternative of `{item.names[0]}`)"] if found != item.names[0] else []
    reasons = [*_positional_breaks(item, sig), *_keyword_breaks(item, sig), *_new_required(item, sig)]
    return ItemResult(
        kind="function", name=label, status="changed" if reasons else "ok", reasons=tuple(reasons or notes)
    )


def _absent(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return f"`{names[0]}` removed"
    return f"none of {', '.join(f'`{n}`' for n in names)} is defined"


def _positionals(sig: Signature) -> list[str]:
    return [n for n, k, _ in sig.params if k != "kwonly"]


def _positional_breaks(item: FunctionItem, sig: Signature) -> list[str]:
    """The wrapper's positional arguments that no longer land on the parameter they did."""
    positional, passes = _positionals(sig), _passes(item)
    if passes > len(positional) and not sig.varargs:
        too_many = [f"takes {len(positional)} positional parameters, the wrapper passes {passes}"]
    else:
        too_many = []
    moved = [
        f"positional parameter {index + 1} is now `{positional[index]}` (was `{name}`)"
        for index, name in enumerate(item.positional[: len(positional)])
        if positional[index] != name
    ]
    return moved + too_many


def _passes(item: FunctionItem) -> int:
    """How many arguments the wrapper passes positionally (named, or counted at its calls)."""
    return max(len(item.positional), item.arity or 0)


def _keyword_breaks(item: FunctionItem, sig: Signature) -> list[str]:
    """The wrapper's keyword arguments the function no longer accepts (with a likely new name)."""
    accepted = {n for n, k, _ in sig.params if k != "posonly"}
    reasons = []
    for name in item.keyword:
        if name not in accepted and not sig.varkw:
            close = difflib.get_close_matches(name, sorted(accepted - set(item.keyword)), n=1)
            hint = f"renamed to `{close[0]}`?" if close else "renamed?"
            reasons.append(f"parameter `{name}` no longer accepted ({hint})")
    return reasons


def _new_required(item: FunctionItem, sig: Signature) -> list[str]:
    """Parameters without default the wrapper does not pass (none when it passes every setting,
    or `**kw` whose keys are unknown; `*args` may fill any positional one)."""
    if item.fills_all_settings or item.unknown_keywords:
        return []
    passed = set(item.positional[: len(_positionals(sig))]) | set(item.keyword)
    filled = len(_positionals(sig)) if item.unknown_arity else _passes(item)
    return [
        f"new required parameter `{name}` without default"
        for index, (name, kind, has_default) in enumerate(sig.params)
        if not has_default and name not in passed and not (kind != "kwonly" and index < filled)
    ]


def check(
    contract: Contract,
    sources: Mapping[str, str | None],
    *,
    model_ids: set[str],
    overlay_ids: set[str],
    suite_models: tuple[str, ...] = (),
    detected: set[str] | None = None,
) -> list[ItemResult]:
    """Check every contract item against the upstream sources (file -> text, None if absent).

    The entry points are detected from the sources and the functions parsed here, unless
    `detected` gives them."""
    results, functions, names = _parse_sources(contract.files, sources)
    if not results:  # every file parsed: only source problems were recorded so far
        results += [check_function(item, functions, names) for item in contract.functions]
        results += [_check_global(g, names) for g in contract.globals]
    results += [
        _check_model(model, model_ids | overlay_ids) for model in dict.fromkeys((*contract.models, *suite_models))
    ]
    if contract.entry_points:
        offered = detected if detected is not None else entry_points(sources, set(functions))
        results.append(_check_entry_points(contract.entry_points, offered))
    return results


def _parse_sources(
    files: tuple[str, ...], sources: Mapping[str, str | None]
) -> tuple[list[ItemResult], dict[str, Signature], set[str]]:
    """Functions and module names of every file; a file absent or not parsing is a result."""
    results: list[ItemResult] = []
    functions: dict[str, Signature] = {}
    names: set[str] = set()
    for file in files:
        text = sources.get(file)
        if text is None:
            results.append(ItemResult(kind="source", name=file, status="missing", reasons=(f"{file} does not exist",)))
            continue
        try:
            found, module_names = parse_module(text, file)
        except SyntaxError as exc:
            reason = f"{file} does not parse: line {exc.lineno}: {exc.msg}"
            results.append(ItemResult(kind="source", name=file, status="error", reasons=(reason,)))
            continue
        functions.update(found)
        names |= module_names | set(found)
    return results, functions, names


def _check_global(name: str, names: set[str]) -> ItemResult:
    if name in names:
        return ItemResult(kind="global", name=name, status="ok")
    reason = f"module global `{name}` no longer defined"
    return ItemResult(kind="global", name=name, status="missing", reasons=(reason,))


def _check_model(model: str, defined: set[str]) -> ItemResult:
    if model in defined:
        return ItemResult(kind="model", name=model, status="ok")
    reason = f"model `{model}` not defined in defaults/ or finetunes/ (and not in the suite's overlays)"
    return ItemResult(kind="model", name=model, status="missing", reasons=(reason,))


def _check_entry_points(wanted: tuple[str, ...], offered: set[str]) -> ItemResult:
    present = [e for e in wanted if e in offered]
    return ItemResult(
        kind="entry_point",
        name=" / ".join(wanted),
        status="ok" if present else "missing",
        reasons=(f"available: {', '.join(present)}",) if present else ("no headless entry point the runner can use",),
    )


def entry_points(sources: Mapping[str, str | None], functions: set[str]) -> set[str]:
    """Which headless entry points a commit offers (the runner's own detection, statically)."""
    found = set()
    if sources.get("shared/api.py") is not None:
        found.add("api")
    if any(_PROCESS_FLAG.search(sources.get(f) or "") for f in ("wgp.py", "shared/cli_args.py")):
        found.add("process")
    if functions & {"generate_video", "generate_media"}:
        found.add("inprocess")
    return found


def holds(results: list[ItemResult]) -> bool:
    return all(r.status == "ok" for r in results)

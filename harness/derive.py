"""Derive the integration contract from a wrapper's own source (pure: `ast`, nothing imported).

What a wrapper uses of upstream's `wgp` module, found statically in every Python file:
- `wgp.<name>` through any module handle: `import wgp`, `import wgp as w`, a handle kept in a
  variable or attribute (`m = importlib.import_module("wgp")`, `m = sys.modules["wgp"]`,
  `self.wgp = wgp`), read, called, assigned, deleted, or item-assigned
  (`wgp.server_config["x"] = ...`); `getattr(wgp, "x")` / `setattr(wgp, "x", v)`;
- `from wgp import a, b as c`: the import needs `a` and `b`; calls to `c(...)` count for `b`;
- a function kept in a variable (`f = wgp.load_models`, `self._apply = apply_changes`): calls
  to `f(...)` / `self._apply(...)` count for it.
A name called anywhere is a function item (the most positional arguments any call passes,
every keyword; `*args` / `**kw` at a call make the rest unknown); a name only read or assigned
is a global.

Not caught, on purpose: `hasattr(wgp, ...)` and `getattr(wgp, "x", default)` (the wrapper copes
with the name missing); `from wgp import *`; handles passed as function arguments or returned
(no flow between functions: a handle is a per-file name, whatever scope binds it); names
built at run time (`getattr(wgp, name)`).

Model ids come only from the wrapper's test scripts (test_*.py, *_test.py, files under a
`tests/` folder, and those its test command names) and its JSON configs: string literals
passed as `model_type=` / `model=` and string values of `"model"` / `"model_type"` keys in
dict literals and JSON objects. Ids in its production code (built from task payloads) are
left out: they vary by task, and a guessed id would flag every commit.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from harness.contract import Contract, FunctionItem, ItemKind, Provenance
from harness.model import Commit

MODULE = "wgp"
MODEL_KEYS = ("model", "model_type")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
UseKind = Literal["call", "read", "assign"]


@dataclass(frozen=True, kw_only=True)
class Use:
    """One use of a `wgp` name at file:line."""

    name: str
    kind: UseKind
    where: str
    positional: int = 0  # arguments passed positionally (not counting a `*args`)
    star_args: bool = False
    keywords: tuple[str, ...] = ()
    star_kw: bool = False
    optional: bool = False  # inside a `try:` that catches the name missing and goes on


@dataclass(frozen=True, kw_only=True)
class Derivation:
    contract: Contract
    skipped: tuple[str, ...]  # "file: why" for files that could not be read


@dataclass(frozen=True, kw_only=True)
class DerivedContract:
    contract: Contract
    text: str  # the rendered YAML
    digest: str  # contract_hash of the runs it judges
    commit: Commit  # the wrapper's commit it was derived at
    url: str
    skipped: tuple[str, ...]  # "file: why" for files not read

    @property
    def source(self) -> str:
        """What a plan shows as the contract's origin."""
        return f"derived from {self.url} at {self.commit.short}"

    def summary(self) -> str:
        c = self.contract
        optional = c.provenance.optional if c.provenance is not None else ()
        unjudged = f" ({len(optional)} more used only where it copes without them: {', '.join(optional)})"
        return (
            f"{len(c.functions)} functions, {len(c.globals)} globals, {len(c.models)} models "
            f"from {self.url} at {self.commit.sha}{unjudged if optional else ''}"
        )


@dataclass(kw_only=True)
class Handles:
    """What stands for `wgp` in one file: dotted names bound to the module, and dotted names
    holding one of its names (name -> the `wgp` name)."""

    modules: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)  # names bound only where a failure is caught


# A read or assignment inside `try:` whose handler catches a missing name (these, or a bare
# except) and does not raise probes for it: the wrapper copes without it (headless_wgp.py's
# monkeypatch of `wgp.load_wan_model` is skipped when the name is gone). Not judged; calls are.
_TOLERATED = {"Exception", "BaseException", "AttributeError", "ImportError", "ModuleNotFoundError", "NameError"}


def _tolerant(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    kinds = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught is not None else []
    catches = caught is None or any(dotted(k) in _TOLERATED for k in kinds)
    return catches and not any(isinstance(n, ast.Raise) for n in ast.walk(handler))


def guarded_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes that run inside a tolerant `try:` (a def's body runs later, unguarded)."""
    guarded: set[int] = set()

    def visit(node: ast.AST, inside: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inside = False
        if inside:
            guarded.add(id(node))
        if isinstance(node, ast.Try):
            body_inside = inside or any(_tolerant(h) for h in node.handlers)
            for child in node.body:
                visit(child, body_inside)
            for other in (*node.handlers, *node.orelse, *node.finalbody):
                visit(other, inside)
            return
        for inner in ast.iter_child_nodes(node):
            visit(inner, inside)

    visit(tree, False)
    return guarded


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names (`self.wgp`), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def _is_wgp(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == MODULE


def _module_value(value: ast.expr, handles: Handles) -> bool:
    """Whether `value` evaluates to the `wgp` module."""
    if dotted(value) in handles.modules:
        return True
    if isinstance(value, ast.Subscript):  # sys.modules["wgp"]
        return dotted(value.value) == "sys.modules" and _is_wgp(value.slice)
    if isinstance(value, ast.Call) and value.args:
        name = dotted(value.func)
        loaders = ("importlib.import_module", "import_module", "__import__", "sys.modules.get")
        return name in loaders and _is_wgp(value.args[0])
    return False


def _held_name(value: ast.expr, handles: Handles) -> str | None:
    """The `wgp` name `value` evaluates to (`wgp.f`, or an alias of one), else None."""
    if (name := dotted(value)) in handles.names:
        return handles.names[name]
    if isinstance(value, ast.Attribute) and _module_value(value.value, handles):
        return value.attr
    return None


def find_handles(tree: ast.Module, guarded: set[int]) -> Handles:
    handles = Handles()
    assigns: list[tuple[str, ast.expr, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            handles.modules |= {a.asname or a.name for a in node.names if a.name == MODULE}
        elif isinstance(node, ast.ImportFrom) and node.module == MODULE and not node.level:
            bound = {a.asname or a.name: a.name for a in node.names if a.name != "*"}
            handles.names |= bound
            handles.optional |= set(bound) if id(node) in guarded else set()
        elif isinstance(node, ast.Assign):
            assigns += [(t, node.value, id(node) in guarded) for target in node.targets if (t := dotted(target))]
        elif isinstance(node, ast.AnnAssign) and node.value is not None and (t := dotted(node.target)):
            assigns.append((t, node.value, id(node) in guarded))
    changed = True
    while changed:  # to a fixed point: `a = wgp; b = a` binds both
        changed = False
        for target, value, optional in assigns:
            if target in handles.modules or target in handles.names:
                continue
            if _module_value(value, handles):
                handles.modules.add(target)
                changed = True
            elif (held := _held_name(value, handles)) is not None:
                handles.names[target] = held
                handles.optional |= {target} if optional else set()
                changed = True
    return handles


class _Uses(ast.NodeVisitor):
    def __init__(self, file: str, handles: Handles, guarded: set[int]) -> None:
        self.file, self.handles, self.guarded, self.found = file, handles, guarded, list[Use]()

    def _add(self, name: str, kind: UseKind, node: ast.expr | ast.stmt) -> None:
        where, optional = f"{self.file}:{node.lineno}", id(node) in self.guarded
        self.found.append(Use(name=name, kind=kind, where=where, optional=optional))

    def _module_attr(self, node: ast.expr) -> str | None:
        """`name` when `node` is `<wgp handle>.name`."""
        if isinstance(node, ast.Attribute) and _module_value(node.value, self.handles):
            return node.attr
        return None

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == MODULE and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    self._add(alias.name, "read", node)

    def visit_Call(self, node: ast.Call) -> None:
        alias = dotted(node.func) or ""
        callee = self._module_attr(node.func) or self.handles.names.get(alias)
        if callee is not None:
            use = Use(
                name=callee,
                kind="call",
                where=f"{self.file}:{node.lineno}",
                # A call inside the try is the wrapper's own work: judged, as a caught failure
                # loses a feature in silence. A call later through a name the try bound (the
                # original kept by a monkeypatch) runs only when the binding worked.
                optional=alias in self.handles.optional and id(node) not in self.guarded,
                positional=sum(not isinstance(a, ast.Starred) for a in node.args),
                star_args=any(isinstance(a, ast.Starred) for a in node.args),
                keywords=tuple(k.arg for k in node.keywords if k.arg is not None),
                star_kw=any(k.arg is None for k in node.keywords),
            )
            self.found.append(use)
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        self._reflective(node)
        self.generic_visit(node)

    def _reflective(self, node: ast.Call) -> None:
        """getattr(wgp, "x") reads x, setattr(wgp, "x", v) assigns it; getattr with a default
        and hasattr do not count: the wrapper copes with the name missing."""
        kind: UseKind
        match dotted(node.func), len(node.args):
            case "getattr", 2:
                kind = "read"
            case "setattr", 3:
                kind = "assign"
            case _:
                return
        if not _module_value(node.args[0], self.handles):
            return
        if isinstance(name := node.args[1], ast.Constant) and isinstance(name.value, str):
            self._add(name.value, kind, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (name := self._module_attr(node)) is not None:
            self._add(name, "read" if isinstance(node.ctx, ast.Load) else "assign", node)
            return
        if not isinstance(node.ctx, ast.Load) and (base := self._base(node.value)) is not None:
            self._add(base, "assign", node)  # wgp.wan_model.model_def = ...
            return
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and (base := self._base(node.value)) is not None:
            self._add(base, "assign", node)  # wgp.server_config["x"] = ...: item assignment
            self.visit(node.slice)
            return
        self.generic_visit(node)

    def _base(self, node: ast.expr) -> str | None:
        """The `wgp` global under a chain of items and attributes (`wgp.models_def[k]["x"]`)."""
        while isinstance(node, ast.Subscript | ast.Attribute):
            if (name := self._module_attr(node)) is not None:
                return name
            node = node.value
        return None


def uses(file: str, source: str) -> list[Use]:
    """Every use of a `wgp` name in one file (SyntaxError propagates)."""
    tree = ast.parse(source, filename=file)
    guarded = guarded_nodes(tree)
    visitor = _Uses(file, find_handles(tree, guarded), guarded)
    visitor.visit(tree)
    return visitor.found


def command_scripts(command: str) -> tuple[str, ...]:
    """The Python files a test command names (`python tests/run.py --out {out}` -> tests/run.py)."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: the command is the config's problem, said there
        return ()
    return tuple(w.removeprefix("./") for w in words if w.endswith(".py"))


def is_test_file(path: str) -> bool:
    p = PurePosixPath(path)
    return "tests" in p.parts[:-1] or p.name.startswith("test_") or p.name.endswith("_test.py")


def _model(value: object) -> bool:
    return isinstance(value, str) and bool(_MODEL_ID.match(value))


def python_models(file: str, source: str) -> Iterator[tuple[str, str]]:
    """(model id, file:line) of the literals a test script passes as a model."""
    for node in ast.walk(ast.parse(source, filename=file)):
        pairs: list[tuple[object, ast.expr]] = []
        if isinstance(node, ast.Call):
            pairs = [(k.arg, k.value) for k in node.keywords]
        elif isinstance(node, ast.Dict):
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            pairs = list(zip(keys, node.values, strict=True))
        for key, value in pairs:
            if key in MODEL_KEYS and isinstance(value, ast.Constant) and _model(value.value):
                yield str(value.value), f"{file}:{value.lineno}"


def json_models(file: str, text: str) -> Iterator[tuple[str, str]]:
    """(model id, file) of `"model"` / `"model_type"` string values anywhere in a JSON file."""
    stack: list[object] = [json.loads(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield from ((str(node[k]), file) for k in MODEL_KEYS if _model(node.get(k)))
            stack += node.values()
        elif isinstance(node, list):
            stack += node


def derive(
    *,
    sources: Mapping[str, str],
    configs: Mapping[str, str],
    wrapper: str,
    ref: str,
    sha: str,
    test_files: Collection[str] = (),
    vendored_models: Collection[str] = (),
) -> Derivation:
    """The contract of the wrapper whose Python `sources` and JSON `configs` (path -> text) are
    given: what it uses of `wgp`, and the models its tests and configs name.

    `vendored_models`: the model ids the upstream tree the wrapper vendors defines; when there
    is one, a test's model id it does not define (`model="test_model"` handed to a stub) is
    not a model the wrapper runs, and is left out (said in `skipped`)."""
    found: list[Use] = []
    models: dict[str, list[str]] = defaultdict(list)
    skipped: list[str] = []
    for path, text in sorted(sources.items()):
        try:
            found += uses(path, text)
            if is_test_file(path) or path in test_files:
                for model, where in python_models(path, text):
                    models[model].append(where)
        except SyntaxError as exc:  # the wrapper's own problem, not upstream's: said, not judged
            skipped.append(f"{path}: line {exc.lineno}: {exc.msg}")
    for path, text in sorted(configs.items()):
        try:
            for model, where in json_models(path, text):
                models[model].append(where)
        except ValueError as exc:
            skipped.append(f"{path}: {exc}")
    for model in [m for m in models if vendored_models and m not in vendored_models]:
        places = ", ".join(_places(models.pop(model)))
        skipped.append(f"model `{model}` ({places}): not defined by the wrapper's vendored upstream, left out")
    return Derivation(contract=contract_of(found, models, wrapper=wrapper, ref=ref, sha=sha), skipped=tuple(skipped))


def contract_of(found: list[Use], models: Mapping[str, list[str]], *, wrapper: str, ref: str, sha: str) -> Contract:
    """Uses grouped by name: called -> function item, only read or assigned -> global."""
    by_name: dict[str, list[Use]] = defaultdict(list)
    for use in found:
        by_name[use.name].append(use)
    optional = tuple(sorted(n for n, u in by_name.items() if all(x.optional for x in u)))
    for name in optional:  # used only where the wrapper copes with its absence
        del by_name[name]
    functions, globals_, where = [], [], []
    for name in sorted(by_name):
        calls = [u for u in by_name[name] if u.kind == "call"]
        kind: ItemKind = "function" if calls else "global"
        if calls:
            functions.append(
                FunctionItem(
                    names=(name,),
                    positional=(),
                    keyword=tuple(sorted({k for u in calls for k in u.keywords})),
                    arity=max(u.positional for u in calls),
                    unknown_arity=any(u.star_args for u in calls),
                    unknown_keywords=any(u.star_kw for u in calls),
                )
            )
        else:
            globals_.append(name)
        where.append((kind, name, _places(u.where for u in by_name[name])))
    where += [("model", model, _places(models[model])) for model in sorted(models)]
    return Contract(
        files=(f"{MODULE}.py",),
        functions=tuple(functions),
        globals=tuple(globals_),
        models=tuple(sorted(models)),
        entry_points=(),
        provenance=Provenance(wrapper=wrapper, ref=ref, sha=sha, where=tuple(where), optional=optional),
    )


def _places(places: Iterator[str] | list[str]) -> tuple[str, ...]:
    """file:line strings, unique, in file then line order."""

    def key(place: str) -> tuple[str, int]:
        file, _, line = place.rpartition(":")
        return (file, int(line)) if line.isdigit() else (place, 0)

    return tuple(sorted(set(places), key=key))

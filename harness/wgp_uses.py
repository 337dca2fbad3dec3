"""What a wrapper's source uses of upstream's `wgp` module (pure: `ast`, nothing imported).

Found statically in every Python file:
- `wgp.<name>` through any module handle: `import wgp`, `import wgp as w`, a handle kept in a
  variable or attribute (`m = importlib.import_module("wgp")`, `m = sys.modules["wgp"]`,
  `self.wgp = wgp`), read, called, assigned, deleted, or item-assigned
  (`wgp.server_config["x"] = ...`); `getattr(wgp, "x")` / `setattr(wgp, "x", v)`;
- `from wgp import a, b as c`: the import needs `a` and `b`; calls to `c(...)` count for `b`;
- a function kept in a variable (`f = wgp.load_models`, `self._apply = apply_changes`): calls
  to `f(...)` / `self._apply(...)` count for it.
Each use is a call (how many positional arguments, which keywords; `*args` / `**kw` at the
call make the rest unknown), a read or an assignment, at file:line.

Not caught, on purpose: `hasattr(wgp, ...)` and `getattr(wgp, "x", default)` (the wrapper copes
with the name missing); `from wgp import *`; handles passed as function arguments or returned
(no flow between functions: a handle is a per-file name, whatever scope binds it); names
built at run time (`getattr(wgp, name)`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

MODULE = "wgp"
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

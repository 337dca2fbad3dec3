"""Derive the integration contract from a wrapper's own source (pure: `ast`, nothing imported).

What it uses of `wgp` is found by harness/wgp_uses.py; this module adds the models and makes
the contract: a name called anywhere is a function item, a name only read or assigned a global.

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
from dataclasses import dataclass
from pathlib import PurePosixPath

from harness.contract import Contract, FunctionItem, ItemKind, Provenance
from harness.model import Commit
from harness.wgp_uses import MODULE, Use, uses

MODEL_KEYS = ("model", "model_type")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


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
    return Derivation(contract=contract_of(found, models, wrapper=wrapper, sha=sha), skipped=tuple(skipped))


def contract_of(found: list[Use], models: Mapping[str, list[str]], *, wrapper: str, sha: str) -> Contract:
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
        provenance=Provenance(wrapper=wrapper, sha=sha, where=tuple(where), optional=optional),
    )


def _places(places: Iterator[str] | list[str]) -> tuple[str, ...]:
    """file:line strings, unique, in file then line order."""

    def key(place: str) -> tuple[str, int]:
        file, _, line = place.rpartition(":")
        return (file, int(line)) if line.isdigit() else (place, 0)

    return tuple(sorted(set(places), key=key))

"""Safe YAML reading shared by every config file: no tags, no duplicate keys, bounded size.

Bounded means the file's bytes and also what its aliases expand to: PyYAML shares an aliased
node, but harness walks the values (error messages, `${VAR}` substitution, digests), so nine
levels of nine aliases (a 400-byte "billion laughs") took 13.7 GB before this check.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.errors import ConfigError

C = TypeVar("C", bound=str)

MAX_CONFIG_BYTES = 1 << 20
# Values the aliases may add once expanded; `<<: *defaults` in a compose file adds a few dozen.
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 100  # nesting levels; PyYAML's composer recurses, so a deeper file was a RecursionError


class _Refused(yaml.YAMLError):
    """The document is well-formed but too big to build: `(key, problem)` for the ConfigError."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(problem)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _distinct(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_ALIAS_NODES extra nodes, or
    contain themselves. Sizes are counted per shared node, so the check is linear in the file."""
    limit = _distinct(root) + MAX_ALIAS_NODES
    sizes: dict[int, int] = {}  # expanded size of each finished node
    open_: set[int] = set()  # nodes whose children are still being counted: an alias to one is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                raise _Refused(
                    "(aliases)",
                    f"its aliases expand to more than {MAX_ALIAS_NODES} extra values "
                    f"(the value at line {node.start_mark.line + 1} alone has {sizes[key]}); "
                    "write the values out, or use fewer aliases",
                )
        elif key in open_:
            line = node.start_mark.line + 1
            raise _Refused("(aliases)", f"the value at line {line} refers to itself through an alias")
        elif key not in sizes:
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently),
    nesting past MAX_DEPTH and aliases past MAX_ALIAS_NODES, before constructing anything."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.get_mark().line + 1
                raise _Refused("(nesting)", f"nested more than {MAX_DEPTH} levels deep at line {line}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` (compose files use it); merged keys may be overridden
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"keys must be plain scalars, not {type(key).__name__}", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; every problem is a ConfigError."""
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(source, "(file)", f"cannot read: {exc.strerror}") from exc
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(source, "(file)", f"{size} bytes; at most {MAX_CONFIG_BYTES} allowed")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:  # a folder, no permission: the user's to fix, not a traceback
        raise ConfigError(source, "(file)", f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "(file)", "not UTF-8 text") from exc
    except _Refused as exc:
        raise ConfigError(source, exc.key, exc.problem) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, "(syntax)", str(exc).replace("\n", " ")) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a mapping of keys to values")
    return data


class Section:
    """Typed access to one mapping of a config file; errors name the file and dotted key."""

    def __init__(self, source: str, prefix: str, data: object) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(source, prefix or "(top level)", "must be a mapping")
        self.source, self.prefix, self.data = source, prefix, data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def check_keys(self, allowed: AbstractSet[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise ConfigError(
                    self.source, self.key(str(name)), f"unknown key; allowed: {', '.join(sorted(allowed))}"
                )

    def section(self, name: str) -> Section:
        return Section(self.source, self.key(name), self.data.get(name))

    def _get(self, name: str, default: object, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.data.get(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(self.source, self.key(name), f"{value!r} is not {what}")
        if not isinstance(value, kind):
            raise ConfigError(self.source, self.key(name), f"{value!r} is not {what}")
        return value

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> Any:
        if required and self.data.get(name) is None:
            raise ConfigError(self.source, self.key(name), "required, missing")
        value = self._get(name, default, str, "a string")
        if isinstance(value, str) and not value.strip():
            raise ConfigError(self.source, self.key(name), "must not be empty")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value: int = self._get(name, default, int, "an integer")
        if not low <= value <= high:
            raise ConfigError(self.source, self.key(name), f"{value} out of range {low}..{high}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = float(self._get(name, default, (int, float), "a number"))
        if not low <= value <= high:
            raise ConfigError(self.source, self.key(name), f"{value} out of range {low}..{high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, default, bool, "true or false")
        return value

    def choice(self, name: str, default: C, allowed: tuple[C, ...]) -> C:
        """A member of the closed set `allowed` (a Literal's values keep its type)."""
        value = self._get(name, default, str, "a string")
        for member in allowed:
            if member == value:
                return member
        raise ConfigError(self.source, self.key(name), f"{value!r}; allowed: {', '.join(allowed)}")

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, [], list, "a list of strings")
        for item in value:
            if not isinstance(item, str):
                raise ConfigError(self.source, self.key(name), f"item {item!r} is not a string")
        return tuple(value)

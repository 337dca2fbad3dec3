"""Every YAML file harness reads goes through `load_yaml_mapping`: aliases have a budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compose import load_service
from harness.config import load_config
from harness.contract import load_contract
from harness.errors import EXIT_USAGE, ConfigError
from harness.recipe import load_recipe
from harness.yamlio import MAX_ALIAS_NODES, load_yaml_mapping

# Nine levels of nine aliases: 9**9 (387 million) strings once every alias is expanded.
BILLION_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_yaml_mapping(path)
    assert info.value.exit_code == EXIT_USAGE
    assert info.value.source == str(path)
    return info.value


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 600
    err = refused(path)
    assert "alias" in str(err) and str(MAX_ALIAS_NODES) in str(err)


def test_merge_key_laughs_are_refused(tmp_path: Path) -> None:
    """`<<: [*a, *a, ...]` copies the merged keys, level after level: refused before construction."""
    lines = ["a0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1}"]
    for i in range(1, 9):
        merged = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} {{<<: [{merged}], extra{i}: 1}}")
    path = tmp_path / "compose.yaml"
    path.write_text("\n".join(lines) + "\n")
    refused(path)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("a: &a [1, *a]\n")
    assert "refers to itself" in str(refused(path))


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "nested" in str(refused(path))


def test_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(
        "base: &base {steps: 2, frames: 9}\none: {<<: *base, steps: 3}\nlist: &l [a, b, c]\ntwice: [*l, *l]\n"
    )
    data = load_yaml_mapping(path)
    assert data["one"] == {"steps": 3, "frames": 9}
    assert data["twice"] == [["a", "b", "c"], ["a", "b", "c"]]


def test_harness_yaml_laughs_refused_through_load_config(tmp_path: Path) -> None:
    """The anchors inside an allowed key: the old code built the error message, repr of 9**9 items."""
    path = tmp_path / "harness.yaml"
    (tmp_path / "up").mkdir()
    levels = ", ".join(line.split(": ", 1)[1] for line in BILLION_LAUGHS.splitlines())
    path.write_text(f"upstream: {{url: ./up}}\nsuite:\n  name: [{levels}]\n  cases: [{{id: a, model: b}}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path) and "aliases" in str(info.value)


def test_compose_recipe_and_contract_refuse_laughs(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(BILLION_LAUGHS + "services: {worker: {image: x, command: *i}}\n")
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(BILLION_LAUGHS + "base: x\n")
    contract = tmp_path / "contract.yaml"
    contract.write_text(BILLION_LAUGHS + "files: *i\n")
    for load in (
        lambda: load_service(compose, "worker", {}),
        lambda: load_recipe(tmp_path / "recipe"),
        lambda: load_contract(contract),
    ):
        with pytest.raises(ConfigError, match="aliases"):
            load()

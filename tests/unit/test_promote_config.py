"""`promote.requires_level` in harness.yaml: how deep a PASS must be to promote."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError
from tests.unit.test_config import write


def test_default_is_baseline(tmp_path: Path) -> None:
    assert load_config(write(tmp_path)).promote_level == "baseline"


@pytest.mark.parametrize("level", ["contract", "smoke", "baseline"])
def test_each_level_is_accepted(tmp_path: Path, level: str) -> None:
    assert load_config(write(tmp_path, top=f"promote:\n  requires_level: {level}\n")).promote_level == level


@pytest.mark.parametrize(
    ("top", "needle"),
    [
        ("promote:\n  requires_level: full\n", "promote.requires_level: 'full'; allowed: contract, smoke, baseline"),
        ("promote:\n  level: smoke\n", "promote.level: unknown key; allowed: requires_level"),
        ("promote: smoke\n", "promote: must be a mapping"),
    ],
)
def test_errors_name_the_key_and_what_is_allowed(tmp_path: Path, top: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, top=top))
    assert needle in str(info.value)

"""Resource defaults of a test container (issue 13): a memory limit unless told `unlimited`,
an output cap, and the engine's own log bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError
from tests.conftest import write_config


def _limits(tmp_path: Path, run_extra: str = "") -> tuple[int | None, int]:
    (tmp_path / "up").mkdir(exist_ok=True)
    cfg = load_config(write_config(tmp_path, upstream=tmp_path / "up", repo="harness-test/limits", run_extra=run_extra))
    return cfg.limits.memory_bytes, cfg.limits.max_output_bytes


def test_default_is_a_memory_limit_and_an_output_cap(tmp_path: Path) -> None:
    # None: the engine adapter sets MEMORY_SHARE of the engine host's RAM (it was: no limit at all)
    assert _limits(tmp_path) == (None, 2 << 30)


def test_memory_and_output_set_in_the_config(tmp_path: Path) -> None:
    assert _limits(tmp_path, "  memory_gib: 1.5\n  max_output_gib: 0.5\n") == (3 << 29, 1 << 29)
    assert _limits(tmp_path, "  memory_gib: unlimited\n")[0] == 0


@pytest.mark.parametrize(
    ("value", "needle"), [("0", "write `unlimited`"), ("lots", "a size in GiB or `unlimited`"), ("-1", "out of range")]
)
def test_memory_zero_no_longer_means_unlimited(tmp_path: Path, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        _limits(tmp_path, f"  memory_gib: {value}\n")
    assert "run.memory_gib" in str(info.value)

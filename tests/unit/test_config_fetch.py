"""upstream.fetch_timeout_s: how long a fetch may take before it is infra."""

from __future__ import annotations

from pathlib import Path

from harness.config import load_config
from tests.unit.test_config import config_error, write


def test_fetch_timeout_defaults_to_60_s_and_is_bounded(tmp_path: Path) -> None:
    assert load_config(write(tmp_path)).fetch_timeout_s == 60.0
    assert load_config(write(tmp_path, upstream="  url: ./up\n  fetch_timeout_s: 5\n")).fetch_timeout_s == 5.0
    error = config_error(write(tmp_path, upstream="  url: ./up\n  fetch_timeout_s: 0\n"))
    assert error.key == "upstream.fetch_timeout_s"

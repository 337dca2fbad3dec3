"""The first-run path of the README's first command: base image bootstrap (scripts/).

A fresh machine of this kind has no /etc/apt/sources.list (only deb822 files in
sources.list.d/): the old mirror detection exited 2 under `set -euo pipefail`, with no message.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.adapters.engine import Engine

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap-base.sh"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin", **env},
    )


def test_mirror_from_deb822_sources_only(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    result = _run("--print-mirror", env={"HARNESS_APT_ROOT": str(tmp_path)})
    assert (result.returncode, result.stdout.strip()) == (0, "http://mirror.example/debian"), result.stderr


def test_mirror_from_one_line_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://other.example/debian bookworm main\n")
    result = _run("--print-mirror", env={"HARNESS_APT_ROOT": str(tmp_path)})
    assert (result.returncode, result.stdout.strip()) == (0, "http://other.example/debian"), result.stderr


def test_no_sources_at_all_falls_back_to_the_debian_mirror(tmp_path: Path) -> None:
    result = _run("--print-mirror", env={"HARNESS_APT_ROOT": str(tmp_path)})
    assert (result.returncode, result.stdout.strip()) == (0, "http://deb.debian.org/debian"), result.stderr


@pytest.mark.integration
def test_failed_debootstrap_says_what_failed(engine: Engine) -> None:
    # A closed port on loopback: debootstrap fails at once, and the script must say so.
    mirror = "http://127.0.0.1:9/debian"
    result = _run("harness-base:never-built", env={"HARNESS_DEBIAN_MIRROR": mirror})
    assert result.returncode == 1
    assert f"bootstrap-base: debootstrap from {mirror} failed (full log: " in result.stderr
    assert engine.images.image_id("harness-base:never-built") is None


def test_usage_without_a_tag_says_so() -> None:
    result = _run(env={})
    assert result.returncode == 1
    assert "usage: bootstrap-base.sh TAG" in result.stderr

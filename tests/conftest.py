"""Shared test helpers: synthetic upstreams made with real git in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

BASE_IMAGE = os.environ.get("HARNESS_BASE_IMAGE", "harness-base:bookworm")
HOST_CA = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
WHEELHOUSE = Path("/opt/wheels")
SAMPLE_CONTRACT = Path(__file__).resolve().parent.parent / "harness" / "sample" / "contract.yaml"

LIGHT_RECIPE = f"""\
# Test recipe: the sample engine falls back to numpy without torch, so tests skip the
# 190 MB torch wheel; the README's sample job and the benches use images/cpu with torch.
base: {BASE_IMAGE}
python: python3
torch: []
constraints: constraints.txt
filters:
  - match: '^--extra-index-url'
    action: drop
    reason: unreachable index
  - match: '^--index-url http://127\\.0\\.0\\.1:9/simple$'
    action: allow
    reason: "tests: a commit naming this unreachable index is an infra failure (test_bisect.py UNREACHABLE)"
"""


def write_config(
    folder: Path,
    *,
    upstream: Path,
    repo: str,
    recipe: str = "recipe",
    extra_suite: str = "",
    cases: str | None = None,
    run_extra: str = "",
    deploy: str = "",
) -> Path:
    """A harness.yaml for a synthetic upstream; the light recipe is written beside it."""
    (folder / "recipe").mkdir(parents=True, exist_ok=True)
    (folder / "recipe" / "recipe.yaml").write_text(LIGHT_RECIPE)
    (folder / "recipe" / "constraints.txt").write_text("")
    ca = f"  ca_bundle: {HOST_CA}\n" if HOST_CA.is_file() else ""
    wheels = f"  wheelhouse: {WHEELHOUSE}\n" if recipe != "recipe" and WHEELHOUSE.is_dir() else ""
    cases = (
        cases
        or """\
    - id: t2v
      model: t2v_tiny
      prompt: a red fox running through snow
"""
    )
    text = f"""\
upstream:
  url: {upstream}
contract: {SAMPLE_CONTRACT}
image:
  repo: {repo}
  recipe: {recipe if recipe != "recipe" else "./recipe"}
build:
  timeout_s: 900
  retries: 1
  retry_backoff_s: 1
{ca}{wheels}run:
  gpu: auto
  timeout_s: 300
{run_extra}{deploy}suite:
  name: test-suite
{extra_suite}  defaults:
    resolution: 64x48
    frames: 9
    steps: 2
  cases:
{cases}"""
    path = folder / "harness.yaml"
    path.write_text(text)
    return path

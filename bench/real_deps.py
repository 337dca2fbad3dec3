"""Benchmarks of issue 18 on the real Wan2GP history, CPU (run by hand, not a test): prints figures.

  cold deps build with uv (empty download cache) / with pip today           goal <= 0.5
  P7 time: deps image of a requirements change, delta / cold deps build     goal <= 0.15
  P7 disk: that delta's added layer / a cold deps layer                      goal <= 0.10

The recipe is real_bisect.py's (images/cpu-wan2gp, smplfitter dropped), so both benches share one
env image. The commits: a deps image of `--base` (default main's 8681e9f7) first, then `--change`
(default e9ef465d, whose requirements differ from main's by tiktoken, fugashi, unidic-lite).
"pip today" is the deps Dockerfile harness used before uv (`git show 49024ab:docker/deps.Dockerfile`),
built with the classic builder and no layer cache FROM the same env image, on the same filtered
requirements, with the recipe's pre_install written for pip.
Usage: .venv/bin/python bench/real_deps.py --upstream /path/to/Wan2GP [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from harness.adapters.engine import Engine, connect
from harness.adapters.git_repo import GitUpstream
from harness.config import load_config
from harness.context import plan_deps, plan_env
from harness.model import Commit
from harness.ops.build import BuiltImage, build_commit_image, engine_inputs
from harness.ops.deps import DepsSettings, ensure_deps
from harness.plan import BuildPlan, build_plan
from harness.recipe import filter_requirements
from harness.store import state_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_bisect import remove_images, write_config

ROOT = Path(__file__).resolve().parent.parent
PIP_TODAY = "49024ab"
CREATED = "2026-01-01T00:00:00Z"  # the last commit whose deps stage was a pip Dockerfile


class Say:
    def step(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def line(self, text: str) -> None:
        pass


def layer_mb(engine: Engine, image: str) -> float:
    """The image's top layer: a committed deps build is exactly one layer over its base."""
    return float(engine.client.images.get(image).history()[0]["Size"]) / 1e6


def added_mb(engine: Engine, image: str, base: str) -> float:
    """What `image` adds over `base` (a Dockerfile build is several layers, some empty)."""
    size = engine.client.images.get(image).attrs["Size"] - engine.client.images.get(base).attrs["Size"]
    return float(size) / 1e6


def pip_today(engine: Engine, plan: BuildPlan, upstream: GitUpstream, sha: str, tag: str) -> float:
    """The deps build as it was before uv: the old Dockerfile, pip, no layer cache; its seconds."""
    host = engine_inputs(plan.host, plan.recipe, engine.images, "")
    env = plan_env(plan.recipe, host, plan.repo)
    filters = filter_requirements((upstream.read_file(sha, "requirements.txt") or b"").decode(), plan.recipe.filters)
    deps = plan_deps(env, filters, plan.recipe, host, plan.repo)
    dockerfile = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{PIP_TODAY}:docker/deps.Dockerfile"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pre = "".join(f"{line.removeprefix('uv ')}\n" for line in ("set -eux", *plan.recipe.pre_install))
    files = {
        "Dockerfile": dockerfile,
        "requirements.txt": dict(deps.files)["requirements.txt"].decode(),
        "pre-install.sh": pre,
    }
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    started = time.monotonic()
    for chunk in engine.client.api.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        nocache=True,
        decode=True,
        buildargs={"ENV_IMAGE": env.tag},
    ):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="a clone or mirror of deepbeepmeep/Wan2GP")
    parser.add_argument("--base", default="8681e9f7")
    parser.add_argument("--change", default="e9ef465d")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-bench18-"))
    token = secrets.token_hex(3)
    repo, cache = f"harness-bench/real{token}", f"harness-bench-uv-{token}"
    config = write_config(work, args.upstream, repo, uv=True)  # the recipe real_bisect.py uses: one env image
    config.write_text(config.read_text().replace("build: {", f"build: {{cache_volume: {cache}, "))
    cfg = load_config(config)
    engine = connect(os.environ)
    upstream = GitUpstream(cfg.upstream_url, cfg.mirror_dir)
    plan = build_plan(cfg)
    state = state_of(cfg.state_dir)
    base, change = upstream.resolve(args.base), upstream.resolve(args.change)
    try:
        print(f"env image (uv, {cfg.recipe_dir.name}): built once, not timed below", flush=True)
        started = time.monotonic()

        def build(commit: Commit) -> BuiltImage:
            return build_commit_image(
                plan, commit, upstream=upstream, builder=engine.images, reporter=Say(), created=CREATED, state=state
            )

        built = build(base)
        env_s, cold = built.stages[0].seconds, built.stages[1]
        print(f"env {env_s:.1f} s; cold deps of {base.short} with uv, empty cache {cold.seconds:.1f} s", flush=True)
        print(f"   (whole first build {time.monotonic() - started:.1f} s)")
        cold_mb = layer_mb(engine, cold.tag)
        pip_s = pip_today(engine, plan, upstream, base.sha, f"{repo}-pip:{base.short}")
        pip_mb = added_mb(engine, f"{repo}-pip:{base.short}", built.stages[0].image_id)
        print(f"cold deps with pip today {pip_s:.1f} s ({pip_mb:.0f} MB layer)", flush=True)
        host = engine_inputs(plan.host, plan.recipe, engine.images, state)
        env = plan_env(plan.recipe, host, plan.repo)
        rebuild = DepsSettings(timeout_s=3600, retries=0, backoff_s=0, rebuild=True)
        filters = filter_requirements(
            (upstream.read_file(base.sha, "requirements.txt") or b"").decode(), plan.recipe.filters
        )
        warm = ensure_deps(engine.images, plan_deps(env, filters, plan.recipe, host, plan.repo), Say(), rebuild)
        print(f"cold deps with uv, warm download cache (--no-cache rebuild) {warm.seconds:.1f} s", flush=True)
        started = time.monotonic()
        delta = build(change).stages[1]
        print(f"delta deps of {change.short} {delta.seconds:.1f} s (whole build {time.monotonic() - started:.1f} s)")
        delta_mb = layer_mb(engine, delta.tag)
        print()
        print(f"cold uv / pip today = {cold.seconds:.1f} / {pip_s:.1f} = {cold.seconds / pip_s:.3f}  (goal <= 0.5)")
        ratio = delta.seconds / cold.seconds
        print(f"P7 time = delta {delta.seconds:.1f} s / cold {cold.seconds:.1f} s = {ratio:.3f}  (goal <= 0.15)")
        print(f"P7 disk = delta {delta_mb:.1f} MB / cold {cold_mb:.1f} MB = {delta_mb / cold_mb:.3f}  (goal <= 0.10)")
        print(f"         (pip's cold layer {pip_mb:.1f} MB; warm-cache clean uv build {warm.seconds:.1f} s)")
    finally:
        if not args.keep:
            remove_images(repo)
            subprocess.run(["docker", "volume", "rm", "-f", cache], check=False, capture_output=True)


if __name__ == "__main__":
    main()

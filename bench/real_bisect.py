"""Benchmark of issue 18 on the real Wan2GP history, CPU (run by hand, not a test): prints figures.

`harness bisect --level smoke` over 60 first-parent commits of real history that cross several
requirement changes, from scratch (a fresh state and repository: no recorded runs, no deps
images; only the env image is built first, untimed), with a given harness source tree: run it
once with this checkout (uv, delta deps, overlapped endpoints) and once with an older one
(`git worktree add /tmp/old 49024ab`, `--src /tmp/old`: pip, a full deps image per requirement
set) for the before/after figure.

The break: the recipe is images/cpu-wan2gp with `smplfitter` dropped, as on a host that cannot
reach GitHub and has no replacement for its wheel. From 2f5319e9 (2025-12-19) on, upstream
imports smplfitter while loading wgp, so smoke fails there ("No module named 'smplfitter'");
older commits pass. The default window, 3feaa249 (good) .. 8e2b874f (bad), is 60 first-parent
commits with 8 requirement changes, the culprit near its middle.
Usage: .venv/bin/python bench/real_bisect.py --upstream /path/to/Wan2GP [--src DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DROP = """\
  - match: '^smplfitter\\b.*'
    action: drop
    reason: bench - as on a host that cannot reach GitHub, with no replacement
"""
WARM_ENV = """\
import os, sys
from pathlib import Path
from harness.adapters.engine import connect
from harness.config import load_config
from harness.context import plan_env
from harness.ops.build import ensure_image, host_inputs
from harness.plan import build_plan
from harness.store import state_of

class Say:
    def step(self, text): print("   " + text, flush=True)
    def line(self, text): pass

cfg = load_config(Path(sys.argv[1]))
plan = build_plan(cfg)
engine = connect(os.environ)
host = host_inputs(cfg, plan.recipe, engine.images, state_of(cfg.state_dir))
ensure_image(engine.images, plan_env(plan.recipe, host, plan.repo), Say(), timeout_s=7200, retries=2)
"""


def write_config(work: Path, upstream: str, repo: str, *, uv: bool) -> Path:
    recipe = work / "recipe"
    recipe.mkdir()
    text = (ROOT / "images" / "cpu-wan2gp" / "recipe.yaml").read_text()
    text = re.sub(r"  - match: '\^smplfitter @ \\S\+'\n(    .*\n)+?(?=  - match)", "", text)
    text = text.replace("filters:\n", "filters:\n" + DROP, 1)
    if not uv:  # an older harness installs pre_install with the venv's pip
        text = text.replace("  - uv pip install", "  - pip install")
    (recipe / "recipe.yaml").write_text(text)
    (recipe / "constraints.txt").write_text((ROOT / "images" / "cpu-wan2gp" / "constraints.txt").read_text())
    config = work / "harness.yaml"
    config.write_text(
        f"upstream: {{url: {upstream}}}\ncontract: none\nimage: {{repo: {repo}, recipe: ./recipe}}\n"
        "build: {timeout_s: 3600, ca_bundle: /etc/ssl/certs/ca-certificates.crt}\n"
        "run: {gpu: none, timeout_s: 900}\n"
        "suite:\n  name: real-smoke\n  cases: [{id: t2v, model: t2v, prompt: a fox}]\n"
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="a clone or mirror of deepbeepmeep/Wan2GP")
    parser.add_argument("--src", default=str(ROOT), help="the harness source tree to run")
    parser.add_argument("--good", default="3feaa249")
    parser.add_argument("--bad", default="8e2b874f")
    parser.add_argument("--culprit", default="2f5319e9")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    src = Path(args.src).resolve()
    uv = (src / "docker" / "deps.sh").is_file()
    work = Path(tempfile.mkdtemp(prefix="harness-bench18-bisect-"))
    repo = f"harness-bench/bisect{secrets.token_hex(3)}"
    config = write_config(work, args.upstream, repo, uv=uv)
    env = {**os.environ, "PYTHONPATH": str(src)}
    harness = [sys.executable, "-m", "harness", "-c", str(config)]
    try:
        print(f"harness from {src} ({'uv, delta deps' if uv else 'pip'}); work {work}", flush=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", WARM_ENV, str(config)], env=env, check=True, cwd=work)
        print(f"env image ready in {time.monotonic() - started:.1f} s (untimed below)", flush=True)
        log = work / "bisect.log"
        started = time.monotonic()
        with log.open("w") as out:
            proc = subprocess.run(
                [*harness, "bisect", "--good", args.good, "--bad", args.bad, "--level", "smoke", "--json", "-v"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
                check=False,
                cwd=work,
            )
        wall = time.monotonic() - started
        report(proc.stdout, log.read_text(), wall, args.culprit, proc.returncode)
        print("deps images of the state: " + deps_images(repo))
    finally:
        if not args.keep:
            remove_images(repo)


def remove_images(repo: str) -> None:
    """Every image of the bench's repositories (`repo`, `repo-env`, `repo-deps`, ...)."""
    subprocess.run(
        f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{repo}' | xargs -r docker rmi -f",
        shell=True,
        check=False,
        capture_output=True,
    )


def deps_images(repo: str) -> str:
    """How the state's deps images were built (background builds print no lines: the labels say)."""
    listed = subprocess.run(
        [
            "docker",
            "images",
            "--format",
            '{{.ID}} {{.CreatedAt}} {{index .Labels "harness.deps-build"}}',
            f"{repo}-deps",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    kinds = [line.rsplit(" ", 1)[-1] or "pip" for line in listed if line.strip()]
    return f"{len(kinds)}: " + ", ".join(f"{kinds.count(k)} {k}" for k in sorted(set(kinds)))


def report(stdout: str, log: str, wall: float, culprit: str, code: int) -> None:
    try:
        doc = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        print(f"bisect exit {code}, no JSON; log tail:\n{log[-3000:]}")
        return
    first_bad = str(doc.get("first_bad") or "")
    probes = doc.get("probes", [])
    deps = [float(m[1]) for m in re.finditer(r"deps image \S+ built in ([0-9.]+) s", log)]
    deltas = len(re.findall(r"delta from deps image", log))
    print(f"bisect exit {code}: first bad {first_bad[:12]} ({'right' if first_bad.startswith(culprit) else 'WRONG'})")
    print(
        f"wall {wall:.1f} s, {len(probes)} probes, {len(deps)} deps images built ({deltas} deltas) in {sum(deps):.1f} s"
    )
    print("deps builds (s): " + ", ".join(f"{d:.1f}" for d in deps))


if __name__ == "__main__":
    main()

"""Benchmark P3 of issue 18 (run by hand, not a test): prints figures, asserts nothing.

`harness bisect` FROM SCRATCH against the script a user writes without harness, on a synthetic
upstream of 64 commits with light requirements (the sample's numpy and av; torch is the env
image's, not upstream's) that change twice: commit 20 adds pillow, commit 45 pins another numpy.
Commit 33 breaks the import, so the walk crosses both changes.
  wall of `harness bisect` (a new state: no runs, no deps images; both endpoints probed) /
  a naive `git bisect run` script doing `docker build` (FROM a torch base: COPY requirements.txt,
  pip install, COPY the tree) + `docker run` per step, layer cache allowed     goal <= 0.6
Warm on both sides before timing, and only that: harness's env image of this state (venv + torch
from the wheelhouse) and the naive script's base image (venv + torch + harness's runner). Cold on
both: every requirements layer (a new state; a per-run comment in requirements.txt for the naive
builds' cache), run records, the clones. Only the CLI, `docker`, image labels and the env image's
planner are used, so the figures stay comparable when the way deps images are built changes.
Both sides download their requirements from the index and share the host: on a busy 2-core host
the ratio moved between 1.06 and 2.43 over eight runs; run it a few times.
Usage: .venv/bin/python bench/bisect_light_64.py [--keep] [--jobs K]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.adapters.git_repo import write_commits
from harness.config import Config, load_config
from harness.sample.make import broken_import, template, write_sample
from harness.store import state_of

ROOT = Path(__file__).resolve().parent.parent
COMMITS = 64
CULPRIT = 33
# Requirements from commit N on (sets A, B, C): the sample's own, + pillow, numpy re-pinned.
CHANGES = (
    (0, ("numpy>=1.26", "av>=12")),
    (20, ("numpy>=1.26", "av>=12", "pillow>=10")),
    (45, ("numpy==2.2.6", "av>=12", "pillow>=10")),
)
TORCH = "torch==2.13.0"  # images/cpu's torch, from the wheelhouse
RUN_LABEL = "harness-bench.run"  # on every naive image, dangling ones too, so cleanup finds them
NAIVE_BASE = """\
FROM harness-base:bookworm
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_CERT=/opt/ca.pem PIP_NO_CACHE_DIR=1 PYTHONPATH=/opt/harness
COPY ca.pem /opt/ca.pem
COPY wheelhouse/ /wheelhouse/
RUN pip install --find-links /wheelhouse {torch}
COPY runner/ /opt/harness/harness_runner/
LABEL {label}={token}
"""
NAIVE_STEP_DOCKERFILE = """\
FROM {base}
COPY requirements.txt /req.txt
RUN pip install -r /req.txt
COPY . /opt/wan2gp/
WORKDIR /opt/wan2gp
ENTRYPOINT ["python", "-m", "harness_runner"]
LABEL {label}={token}
"""
NAIVE_STEP = """\
#!/bin/sh
# One git-bisect-run step, done the naive way: build the checkout, run it, judge results.json.
set -u
start=$(date +%s.%N)
DOCKER_BUILDKIT=0 docker build -q -f {dockerfile} -t {tag} . >/dev/null || exit 125
rm -rf {out} && mkdir -p {out}
docker run --rm -v {spec_dir}:/harness/in:ro -v {out}:/harness/out {tag} \\
  --spec /harness/in/spec.json --out /harness/out >/dev/null 2>&1
python3 -c "import json,sys; d=json.load(open('{out}/results.json'))['results']; \\
sys.exit(0 if d and all(r['status']=='success' for r in d) else 1)" 2>/dev/null
verdict=$?
echo "$(git rev-parse HEAD) $verdict $start $(date +%s.%N)" >> {times}
exit $verdict
"""
# harness's progress lines (the foreground's; prefetch builds print nothing).
BUILT = re.compile(r"\b(env|deps|commit) image \S+ built in ([0-9.]+) s")
REUSED = re.compile(r"\b(env|deps|commit) image \S+ reused")


@dataclass(frozen=True, kw_only=True)
class Fixture:
    work: Path
    config: Path
    upstream: Path
    shas: list[str]
    token: str  # this run's: the image repo, the naive images' label, the requirements' comment


@dataclass(frozen=True, kw_only=True)
class Step:
    sha: str
    verdict: str
    source: str  # harness: fresh or reused; the naive script: always fresh
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Side:
    seconds: float
    steps: tuple[Step, ...]
    culprit: str  # the first bad commit found ("" when none)
    log: str  # harness's stderr; "" for the naive script


def requirements(i: int, token: str) -> str:
    lines = next(reqs for start, reqs in reversed(CHANGES) if i >= start)
    return "".join(f"{line}\n" for line in (f"# bench run {token}", *lines))


def make_fixture(work: Path) -> Fixture:
    """The sample's harness.yaml (one case, a new image repo and state) over a 64-commit history."""
    token = secrets.token_hex(4)
    config = write_sample(work)
    text = re.sub(r"(?m)^(  repo:) \S+", rf"\1 harness-bench/light-{token}", config.read_text())
    config.write_text(text[: text.index("    - id: vace_tiny")])  # one case: a probe of a few seconds
    upstream = work / "upstream"
    shutil.rmtree(upstream)
    wgp = template()["wgp.py"] or ""
    history = [("base", template() | {"requirements.txt": requirements(0, token)})]
    for i in range(1, COMMITS):
        files: dict[str, str | None] = {"wgp.py": (broken_import(wgp) if i >= CULPRIT else wgp) + f"\n# {i}\n"}
        if any(i == start for start, _ in CHANGES):
            files["requirements.txt"] = requirements(i, token)
        history.append((f"commit {i}", files))
    return Fixture(work=work, config=config, upstream=upstream, shas=write_commits(upstream, history), token=token)


def warm_env(cfg: Config) -> str:
    """Build this state's env image before timing, as `weights pull` does; say what was done."""
    try:
        from harness.adapters.engine import connect
        from harness.context import plan_env
        from harness.ops.build import ensure_image, host_inputs
        from harness.recipe import load_recipe

        engine = connect(os.environ)
        recipe = load_recipe(cfg.recipe_dir)
        env = plan_env(recipe, host_inputs(cfg, recipe, engine.images, state_of(cfg.state_dir)), cfg.repo)
        built = ensure_image(engine.images, env, Quiet(), timeout_s=float(cfg.build_timeout_s), state_dir=cfg.state_dir)
    except (ImportError, AttributeError, TypeError) as exc:  # the planner moved: say so, bench on
        return f"NOT warmed ({exc!r}): the bisect builds it, timed"
    return f"{env.tag} built in {built.seconds:.1f} s (venv + {TORCH} from the wheelhouse)"


class Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def run_harness(fx: Fixture, jobs: int) -> Side:
    harness = [str(Path(sys.executable).parent / "harness"), "-c", str(fx.config)]
    started = time.monotonic()
    proc = subprocess.run(
        [*harness, "bisect", "--good", fx.shas[0], "--bad", fx.shas[-1], "--jobs", str(jobs), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    (fx.work / "harness-bisect.log").write_text(proc.stderr)  # kept with --keep
    try:
        doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    except ValueError:
        print(f"harness bisect: exit {proc.returncode}, no JSON; its stderr's tail:\n{proc.stderr[-3000:]}")
        doc = {"probes": [], "first_bad": None}
    steps = tuple(
        Step(sha=p["commit"], verdict=p["verdict"], source=p["source"], seconds=p["seconds"]) for p in doc["probes"]
    )
    return Side(seconds=seconds, steps=steps, culprit=doc["first_bad"] or "", log=proc.stderr)


def naive_base(fx: Fixture, cfg: Config, naive: Path) -> str:
    """The naive script's base image, built before timing: the analogue of harness's env image."""
    context = naive / "base"
    context.mkdir(parents=True)
    shutil.copytree(cfg.wheelhouse or "/opt/wheels", context / "wheelhouse")
    shutil.copy(cfg.ca_bundle or "/etc/ssl/certs/ca-certificates.crt", context / "ca.pem")
    shutil.copytree(ROOT / "harness" / "runner", context / "runner")
    (context / "Dockerfile").write_text(NAIVE_BASE.format(torch=TORCH, label=RUN_LABEL, token=fx.token))
    base = f"{cfg.repo}-naive:base"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(["docker", "build", "-q", "-t", base, str(context)], check=True, env=env, capture_output=True)
    return base


def naive_step(fx: Fixture, cfg: Config, naive: Path, base: str) -> Path:
    """The step script `git bisect run` runs, and its Dockerfile."""
    dockerfile = naive / "Dockerfile.step"
    dockerfile.write_text(NAIVE_STEP_DOCKERFILE.format(base=base, label=RUN_LABEL, token=fx.token))
    spec_dir = next((cfg.state_dir / "runs").glob("*/in"))  # a harness run's spec: the same suite
    step = naive / "step.sh"
    tag = f"{cfg.repo}-naive:step"
    out, times = naive / "out", naive / "steps.txt"
    step.write_text(NAIVE_STEP.format(dockerfile=dockerfile, tag=tag, out=out, spec_dir=spec_dir, times=times))
    return step


def run_naive(fx: Fixture, step: Path) -> Side:
    checkout = fx.work / "naive" / "checkout"
    subprocess.run(["git", "clone", "-q", str(fx.upstream), str(checkout)], check=True)
    subprocess.run(["git", "bisect", "start", fx.shas[-1], fx.shas[0]], cwd=checkout, check=True, capture_output=True)
    started = time.monotonic()
    run = subprocess.run(
        ["git", "bisect", "run", "sh", str(step)], cwd=checkout, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    found = re.search(r"^([0-9a-f]{40}) is the first bad commit", run.stdout, re.M)
    if found is None:
        print(f"naive git bisect run: no culprit; its output's tail:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    times = step.parent / "steps.txt"
    rows = [line.split() for line in (times.read_text().splitlines() if times.is_file() else ())]
    steps = tuple(
        Step(sha=sha, verdict="pass" if rc == "0" else "fail", source="fresh", seconds=float(end) - float(begin))
        for sha, rc, begin, end in rows
    )
    return Side(seconds=seconds, steps=steps, culprit=found.group(1) if found else "", log="")


def docker_lines(*argv: str) -> list[str]:
    proc = subprocess.run(["docker", *argv], capture_output=True, text=True, check=False)
    return [line for line in proc.stdout.split("\n") if line] if proc.returncode == 0 else []


def deps_images(state: str) -> list[str]:
    """This state's deps images on the engine (prefetched ones too), and how each was built when labelled."""
    rows = []
    for image in docker_lines("images", "-q", "--no-trunc", "--filter", f"label=harness.state={state}"):
        labels = json.loads(
            (docker_lines("image", "inspect", "--format", "{{json .Config.Labels}}", image) or ["{}"])[0]
        )
        if (labels or {}).get("harness.stage") == "deps":
            base = labels.get("harness.deps-base")
            made = labels.get("harness.deps-build") or "dockerfile"
            rows.append(f"{image[7:19]} {made}" + ("" if base is None else f" from {base[:12] or 'the env image'}"))
    return sorted(set(rows))


def label_of(fx: Fixture, sha: str) -> str:
    i = fx.shas.index(sha) if sha in fx.shas else -1
    return f"#{i:<2} reqs {'ABC'[sum(1 for start, _ in CHANGES[1:] if i >= start)]}"


def print_side(fx: Fixture, name: str, side: Side, unit: str) -> None:
    right = "right" if side.culprit == fx.shas[CULPRIT] else "WRONG"
    found = label_of(fx, side.culprit) if side.culprit else "none"
    print(f"{name}: {side.seconds:.1f} s, {len(side.steps)} {unit}, culprit {found} ({right})")
    for s in side.steps:
        print(f"   {s.sha[:12]} {label_of(fx, s.sha)}  {s.verdict:<5} {s.source:<6} {s.seconds:6.1f} s")


def print_builds(side: Side, state: str) -> None:
    """Where harness's time went: the builds its output reports, and the deps images it left."""
    built = [(m[1], float(m[2])) for m in BUILT.finditer(side.log)]
    reused = [m[1] for m in REUSED.finditer(side.log)]
    if not built and not reused:
        print("   (no '<stage> image ... built in N s' or '... reused' lines in harness's output: has it changed?)")
    for stage in ("env", "deps", "commit"):
        secs = [s for st, s in built if st == stage]
        print(
            f"   {stage} builds in harness's output: {len(secs)}, {sum(secs):.1f} s {[round(s, 1) for s in secs]}; "
            f"reused {reused.count(stage)} times"
        )
    images = deps_images(state)
    print(f"   deps images of this state on the engine (built ahead included): {len(images)}")
    for row in images:
        print(f"      {row}")


def cleanup(fx: Fixture, state: str, keep: bool) -> None:
    if keep:
        print(f"kept: {fx.work}; images labelled harness.state={state} or {RUN_LABEL}={fx.token}")
        return
    for container in docker_lines("ps", "-aq", "--filter", f"label=harness.state={state}"):  # an interrupted run's
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    for _ in range(3):  # children first: a parent with children is refused, so a few passes
        labels = (f"harness.state={state}", f"{RUN_LABEL}={fx.token}")
        ids = [i for label in labels for i in docker_lines("images", "-q", "--filter", f"label={label}")]
        for image in dict.fromkeys(ids):
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
    shutil.rmtree(fx.work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the bench images and its folder")
    parser.add_argument("--jobs", type=int, default=1, help="harness bisect --jobs (CPU runs at once per round)")
    args = parser.parse_args()
    fx = make_fixture(Path(tempfile.mkdtemp(prefix="harness-bisect-light-")))
    cfg = load_config(fx.config)
    state = state_of(cfg.state_dir)
    try:
        changes = " and ".join(f"#{start} ({', '.join(reqs)})" for start, reqs in CHANGES[1:])
        print(f"fixture: {COMMITS} commits, requirements change at {changes}, culprit #{CULPRIT}; {fx.work}")
        print(f"warm: harness's env image {warm_env(cfg)}")
        naive = fx.work / "naive"
        started = time.monotonic()
        base = naive_base(fx, cfg, naive)
        print(
            f"warm: the naive base image {base} built in {time.monotonic() - started:.1f} s (venv + {TORCH} + runner)"
        )
        print("cold: every requirements layer on both sides, run records, bisect log, the upstream clones")
        hs = run_harness(fx, args.jobs)
        ns = run_naive(fx, naive_step(fx, cfg, naive, base))
        jobs = f", --jobs {args.jobs}" if args.jobs > 1 else ""
        print_side(fx, f"harness bisect (endpoints probed too{jobs})", hs, "probes")
        print_builds(hs, state)
        print_side(fx, "naive git bisect run (endpoints taken on trust)", ns, "steps")
        print(
            f"P3 = harness {hs.seconds:.1f} s / naive {ns.seconds:.1f} s = {hs.seconds / ns.seconds:.3f}  (goal <= 0.6)"
        )
    finally:
        cleanup(fx, state, args.keep)


if __name__ == "__main__":
    main()

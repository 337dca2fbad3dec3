"""Benchmarks of issue 2 (run by hand, not a test): prints ratios, asserts nothing.

P1  incremental commit image (new commit, same requirements) / cold image   goal <= 0.02
P2  `harness build-and-test` wall / the same work with raw `docker build` + `docker run`
    (a naive single Dockerfile, classic builder, layer cache allowed)         goal <= 1.05

On the sample upstream with the heavy deps layer of images/cpu (torch from the wheelhouse).
Usage: .venv/bin/python bench/p1_p2.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.adapters.engine import connect
from harness.adapters.git_repo import GitUpstream, write_commits
from harness.config import load_config
from harness.ops.build import build_commit_image
from harness.plan import build_plan
from harness.sample.make import write_sample
from harness.store import state_of

ROOT = Path(__file__).resolve().parent.parent
NAIVE = """\
FROM {base}
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_CERT=/ca.pem PIP_NO_CACHE_DIR=1
COPY ca.pem /ca.pem
COPY wheelhouse/ /wheelhouse/
RUN pip install --find-links /wheelhouse torch==2.13.0
COPY upstream/requirements.txt /req.txt
RUN pip install -r /req.txt
COPY runner/ /opt/harness/harness_runner/
COPY upstream/ /opt/wan2gp/
WORKDIR /opt/wan2gp
ENV PYTHONPATH=/opt/harness
ENTRYPOINT ["python", "-m", "harness_runner"]
"""


class Quiet:
    def step(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def line(self, text: str) -> None:
        pass


def timed(fn: object, *args: object, **kwargs: object) -> tuple[float, object]:
    started = time.monotonic()
    result = fn(*args, **kwargs)  # type: ignore[operator]
    return time.monotonic() - started, result


def sh(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(
        argv,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the bench images")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    repo = f"harness-bench/s{secrets.token_hex(3)}"
    config_path = write_sample(work)
    config_path.write_text(config_path.read_text().replace("repo: harness/sample", f"repo: {repo}"))
    cfg = load_config(config_path)
    engine = connect(os.environ)
    upstream = GitUpstream(cfg.upstream_url, cfg.mirror_dir)
    created = "2026-01-01T00:00:00+00:00"

    print("P1: cold build (env + deps + commit, no layer cache)", flush=True)
    commit = upstream.resolve("HEAD~1")
    cold, _ = timed(
        build_commit_image,
        build_plan(cfg),
        commit,
        upstream=upstream,
        builder=engine.images,
        reporter=Quiet(),
        created=created,
        state=state_of(cfg.state_dir),
        no_cache=True,
    )
    wgp = Path(cfg.upstream_url) / "wgp.py"
    sha = write_commits(Path(cfg.upstream_url), [("code only", {"wgp.py": wgp.read_text() + "\n# edit\n"})])[0]
    upstream.fetch()
    incremental, built = timed(
        build_commit_image,
        build_plan(cfg),
        upstream.commit(sha),
        upstream=upstream,
        builder=engine.images,
        reporter=Quiet(),
        created=created,
        state=state_of(cfg.state_dir),
    )
    print(f"P1 = incremental {incremental:.2f} s / cold {cold:.2f} s = {incremental / cold:.4f}  (goal <= 0.02)")

    print("P2: harness build-and-test vs raw docker build + docker run (new commit, warm caches)")
    sha2 = write_commits(Path(cfg.upstream_url), [("code only 2", {"wgp.py": wgp.read_text() + "\n# edit 2\n"})])[0]
    harness_bin = str(Path(sys.executable).parent / "harness")
    t_harness, _ = timed(
        subprocess.run,
        [harness_bin, "-c", str(config_path), "build-and-test", sha2],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctx = work / "naive"
    sh("git", "clone", "-q", str(cfg.upstream_url), str(ctx / "upstream"))
    sh("git", "-C", str(ctx / "upstream"), "checkout", "-q", sha2)
    sh("rm", "-rf", str(ctx / "upstream" / ".git"))
    sh("cp", "-r", str(cfg.wheelhouse), str(ctx / "wheelhouse"))
    sh("cp", str(cfg.ca_bundle), str(ctx / "ca.pem"))
    sh("cp", "-r", str(ROOT / "harness" / "runner"), str(ctx / "runner"))
    (ctx / "Dockerfile").write_text(NAIVE.format(base="harness-base:bookworm"))
    sh("docker", "build", "-q", "-t", f"{repo}-naive:warmup", str(ctx))  # fill the layer cache once
    (ctx / "upstream" / "wgp.py").write_text((ctx / "upstream" / "wgp.py").read_text() + "\n# edit 3\n")
    run_dir = work / "naive-run"
    (run_dir / "out").mkdir(parents=True)
    spec = next((cfg.state_dir / "runs").glob("*/in/spec.json"))
    started = time.monotonic()
    sh("docker", "build", "-q", "-t", f"{repo}-naive:x", str(ctx))
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{spec.parent}:/harness/in:ro",
            "-v",
            f"{run_dir / 'out'}:/harness/out",
            f"{repo}-naive:x",
            "--spec",
            "/harness/in/spec.json",
            "--out",
            "/harness/out",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    t_raw = time.monotonic() - started
    print(f"P2 = harness {t_harness:.2f} s / raw CLI {t_raw:.2f} s = {t_harness / t_raw:.3f}  (goal <= 1.05)")
    print(f"   (commit stage alone {built.stages[-1].seconds:.2f} s; files in {work})")  # type: ignore[attr-defined]
    if not args.keep:
        for image in engine.client.images.list():
            for tag in image.tags:
                if tag.startswith("harness-bench/"):
                    engine.client.images.remove(tag, force=True)


if __name__ == "__main__":
    main()

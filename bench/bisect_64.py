"""Benchmark of issue 4 (run by hand, not a test): prints figures, asserts nothing.

On a synthetic upstream of 64 commits (heavy deps layer: images/cpu with torch from the
wheelhouse; commit 41 breaks the import), after both endpoints were tested once (the usual
situation: HEAD just failed, last-good passed):
  probes of `harness bisect`                                          goal <= 7
  wall of `harness bisect` / a naive `git bisect run` script doing
  `docker build` + `docker run` per step (layer cache allowed)        goal <= 0.6
Usage: .venv/bin/python bench/bisect_64.py
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.adapters.git_repo import write_commits
from harness.sample.make import broken_import, template, write_sample

ROOT = Path(__file__).resolve().parent.parent
CULPRIT = 41
NAIVE_DOCKERFILE = """\
FROM harness-base:bookworm
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_CERT=/ctx/ca.pem PIP_NO_CACHE_DIR=1
COPY ca.pem /ctx/ca.pem
COPY wheelhouse/ /wheelhouse/
RUN pip install --find-links /wheelhouse torch==2.13.0
COPY requirements.txt /req.txt
RUN pip install -r /req.txt
COPY . /opt/wan2gp/
COPY runner/ /opt/harness/harness_runner/
WORKDIR /opt/wan2gp
ENV PYTHONPATH=/opt/harness
ENTRYPOINT ["python", "-m", "harness_runner"]
"""
NAIVE_STEP = """\
#!/bin/sh
# One git-bisect-run step, done the naive way: build the checkout, run it, judge results.json.
set -u
cp -r {wheels} wheelhouse 2>/dev/null; cp {ca} ca.pem; cp -r {runner} runner; cp {dockerfile} Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t {tag} . >/dev/null || exit 125
rm -rf {out} && mkdir -p {out}
docker run --rm -v {spec_dir}:/harness/in:ro -v {out}:/harness/out {tag} \\
  --spec /harness/in/spec.json --out /harness/out >/dev/null 2>&1
rm -rf wheelhouse ca.pem runner Dockerfile
python3 -c "import json,sys; d=json.load(open('{out}/results.json'))['results']; \\
sys.exit(0 if d and all(r['status']=='success' for r in d) else 1)"
"""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="harness-bisect-bench-"))
    config = write_sample(work)
    repo = f"harness-bench/b{secrets.token_hex(3)}"
    text = config.read_text().replace("repo: harness/sample", f"repo: {repo}")
    # One case keeps a probe at a few seconds.
    text = text[: text.index("    - id: vace_tiny")]
    config.write_text(text)
    upstream = work / "upstream"
    shutil.rmtree(upstream)
    wgp = template()["wgp.py"] or ""
    history = [("base", template())] + [
        (f"commit {i}", {"wgp.py": (broken_import(wgp) if i >= CULPRIT else wgp) + f"\n# {i}\n"}) for i in range(1, 64)
    ]
    shas = write_commits(upstream, history)
    harness = [str(Path(sys.executable).parent / "harness"), "-c", str(config)]
    for sha in (shas[0], shas[-1]):  # the endpoints' usual records (and warm env/deps images)
        subprocess.run([*harness, "build-and-test", sha], check=False, capture_output=True)
    started = time.monotonic()
    proc = subprocess.run(
        [*harness, "bisect", "--good", shas[0], "--bad", shas[-1], "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    t_harness = time.monotonic() - started
    doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    fresh = sum(1 for p in doc["probes"] if p["source"] == "fresh")
    assert doc["first_bad"] == shas[CULPRIT], doc

    spec_dir = next((work / ".harness" / "runs").glob("*/in"))
    naive = work / "naive"
    (naive).mkdir()
    (naive / "Dockerfile.naive").write_text(NAIVE_DOCKERFILE)
    step = naive / "step.sh"
    step.write_text(
        NAIVE_STEP.format(
            wheels="/opt/wheels",
            ca="/etc/ssl/certs/ca-certificates.crt",
            runner=ROOT / "harness" / "runner",
            dockerfile=naive / "Dockerfile.naive",
            tag=f"{repo}-naive:step",
            out=naive / "out",
            spec_dir=spec_dir,
        )
    )
    step.chmod(0o755)
    checkout = naive / "checkout"
    subprocess.run(["git", "clone", "-q", str(upstream), str(checkout)], check=True)
    subprocess.run(["git", "checkout", "-q", shas[0]], cwd=checkout, check=True)
    subprocess.run(["sh", str(step)], cwd=checkout, check=False)  # warm the naive layer cache too
    subprocess.run(["git", "bisect", "start", shas[-1], shas[0]], cwd=checkout, check=True, capture_output=True)
    started = time.monotonic()
    run = subprocess.run(
        ["git", "bisect", "run", "sh", str(step)], cwd=checkout, capture_output=True, text=True, check=False
    )
    t_naive = time.monotonic() - started
    naive_steps = run.stdout.count("running")
    assert f"{shas[CULPRIT]} is the first bad commit" in run.stdout, run.stdout[-2000:]
    print(f"probes: {len(doc['probes'])} steps, {fresh} fresh (endpoints reused), goal <= 7")
    print(
        f"wall: harness bisect {t_harness:.1f} s / naive git bisect run {t_naive:.1f} s ({naive_steps} steps) "
        f"= {t_harness / t_naive:.3f}  (goal <= 0.6)"
    )
    for image in subprocess.run(
        ["docker", "images", "-q", "--filter", f"reference={repo}*"], capture_output=True, text=True, check=False
    ).stdout.split():
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


if __name__ == "__main__":
    main()

"""weights pull: download the suite's model weights into the model cache, once, with network.

The only run with the network allowed and the cache mounted read-write. The Hugging Face
token is handed to the container at run time (environment), never at build time: build
arguments stay in an image's history.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.adapters.run_files import RESULTS_CAP, read_run_file
from harness.config import Config
from harness.errors import ConfigError, RunInfraError
from harness.ops.test import prepare_dirs, runner_args
from harness.ports import ContainerRunner, Reporter
from harness.runplan import IN_DIR, MODEL_DIR, OUT_DIR, GpuPlan, Mount, RunRequest, input_files, runner_spec


def pull_weights(
    cfg: Config, *, image: str, run_id: str, run_dir: Path, runner: ContainerRunner, reporter: Reporter, token: str
) -> dict[str, Any]:
    if cfg.model_cache is None:
        raise ConfigError(str(cfg.source), "run.model_cache", "required for weights pull: the folder to fill")
    owner = cfg.model_cache.stat()
    in_dir, out_dir = run_dir / "in", run_dir / "out"
    prepare_dirs(in_dir, out_dir)
    (in_dir / "spec.json").write_text(json.dumps(runner_spec(cfg.suite, run_id, input_files(cfg.suite))))
    request = RunRequest(
        image=image,
        command=("--weights", MODEL_DIR, *runner_args(cfg), "--spec", f"{IN_DIR}/spec.json", "--out", OUT_DIR),
        # The engine adds the state and session labels to every container (gc reaps by them).
        labels=(("harness.run", run_id), ("harness.purpose", "weights")),
        mounts=(
            Mount(source=str(in_dir), target=IN_DIR, read_only=True),
            Mount(source=str(out_dir), target=OUT_DIR, read_only=False),
            Mount(source=str(cfg.model_cache), target=MODEL_DIR, read_only=False),
        ),
        environment=(("HF_TOKEN", token),) if token else (),
        gpu=GpuPlan(mode="none", reason="weights pull needs no GPU"),
        timeout_s=float(max(cfg.run_timeout_s, 6 * 3600)),
        name=f"harness-weights-{run_id}",
        network=True,
        # The cache's owner writes the files, so they belong to whoever owns the cache.
        limits=dataclasses.replace(cfg.limits, user=f"{owner.st_uid}:{owner.st_gid}"),
    )
    done = runner.run(request, log_path=str(run_dir / "weights.log"), on_line=reporter.line)
    try:
        report: dict[str, Any] = json.loads(read_run_file(out_dir / "weights.json", RESULTS_CAP))
    except (OSError, ValueError, RecursionError) as exc:
        raise RunInfraError(
            f"weights pull wrote no report (exit {done.exit_code}); see {run_dir / 'weights.log'}"
        ) from exc
    return report

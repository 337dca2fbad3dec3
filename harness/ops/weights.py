"""weights pull: download the suite's model weights into the model cache, with the token, and
no upstream code anywhere near it.

What to download is resolved on the host from the model definitions read from git at the
commit (JSON: no import of `wgp`) plus the suite's overlays (harness/modeldefs.py). The
download runs harness's own stdlib downloader (harness/runner/weights.py, mounted read-only)
in the recipe's env image: no upstream tree, no upstream requirements, a non-root uid, the
cache the only writable mount. The token reaches that container at run time (environment),
never a build argument, label or command-line word.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.context import plan_env
from harness.errors import ConfigError, RunInfraError
from harness.model import Commit
from harness.modeldefs import Download, downloads, merge, model_section, model_urls
from harness.ops.build import RUNNER_DIR, ensure_image, host_inputs
from harness.ops.build_and_test import new_run_id
from harness.ops.isolation import check_repo
from harness.ports import ContainerRunner, ImageBuilder, Reporter, Upstream
from harness.recipe import load_recipe
from harness.runplan import GpuPlan, Mount, RunRequest
from harness.store import state_of

HF_ORIGINS = ("https://huggingface.co",)  # the only origins that ever see the token
BIN_DIR = "/harness/bin"
CACHE_DIR = "/harness/cache"
PREFIX = "[harness-weights] "


@dataclasses.dataclass(frozen=True, kw_only=True)
class WeightsPlan:
    models: tuple[str, ...]
    files: tuple[Download, ...]
    refused: tuple[str, ...]  # URLs whose file name would leave the cache, with why


def _definitions(upstream: Upstream, sha: str, folder: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in upstream.list_files(sha, folder):
        data = upstream.read_file(sha, f"{folder}/{name}") if name.endswith(".json") else None
        section = model_section(data) if data is not None else None
        if section is not None:
            found[name.removesuffix(".json")] = section
    return found


def plan_weights(upstream: Upstream, sha: str, overlays: Path | None, models: tuple[str, ...]) -> WeightsPlan:
    """The files the suite's models need at `sha`, from JSON read from git (nothing imported)."""
    finetunes = _definitions(upstream, sha, "finetunes")
    for path in sorted(overlays.glob("*.json")) if overlays else ():
        section = model_section(path.read_bytes())  # an overlay replaces finetunes/<id>.json, as in the image
        if section is not None:
            finetunes[path.stem] = section
    definitions = merge(_definitions(upstream, sha, "defaults"), finetunes)
    unique = tuple(dict.fromkeys(models))
    files, refused = downloads(model_urls(definitions, list(unique)))
    return WeightsPlan(models=unique, files=files, refused=refused)


def _downloader_user(cfg: Config, cache: Path, files: tuple[Download, ...]) -> str:
    """The cache's owner writes the files; never root (then the confined default user)."""
    owner = cache.stat()
    if owner.st_uid != 0:
        return f"{owner.st_uid}:{owner.st_gid}"
    if any(not (cache / f.name).is_file() for f in files):
        raise ConfigError(
            str(cfg.source),
            "run.model_cache",
            f"{cache} is owned by root and the downloader never runs as root: "
            f"chown -R {cfg.limits.user} {cache} (or any non-root user), then pull again",
        )
    return cfg.limits.user


def _report(plan: WeightsPlan, log: Path, cache: Path, exit_code: int | None) -> dict[str, Any]:
    rows = []
    for line in log.read_text(errors="replace").splitlines() if log.is_file() else ():
        if line.startswith(PREFIX):
            try:
                rows.append(json.loads(line.removeprefix(PREFIX)))
            except ValueError:
                continue
    report: dict[str, Any] = {"models": list(plan.models), "files": [], "total_bytes": 0, "errors": list(plan.refused)}
    done = {str(r.get("url")): r for r in rows if isinstance(r, dict)}
    for item in plan.files:
        row = done.get(item.url)
        if row is None or "error" in row or not isinstance(row.get("bytes"), int):
            why = str(row["error"]) if row and "error" in row else f"not reported (downloader exit {exit_code})"
            report["errors"].append(f"{item.url}: {why}")
            continue
        report["files"].append({"url": item.url, "path": str(cache / item.name), "bytes": row["bytes"]})
        report["total_bytes"] += row["bytes"]
    return report


def _env_image(cfg: Config, builder: ImageBuilder, reporter: Reporter) -> str:
    """The recipe's env image (built when missing): Python and harness's runner, no upstream code."""
    state = state_of(cfg.state_dir)
    check_repo(builder, cfg.repo, state)
    recipe = load_recipe(cfg.recipe_dir)
    env = plan_env(recipe, host_inputs(cfg, recipe, builder, state), cfg.repo)
    built = ensure_image(
        builder,
        env,
        reporter,
        timeout_s=float(cfg.build_timeout_s),
        retries=cfg.build_retries,
        backoff_s=cfg.build_backoff_s,
    )
    return built.image_id


def _write_bin(run_dir: Path, plan: WeightsPlan, token_origins: tuple[str, ...]) -> Path:
    """The downloader and its list, in a folder the container mounts read-only."""
    bin_dir = run_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    bin_dir.chmod(0o755)
    (bin_dir / "weights.py").write_bytes((RUNNER_DIR / "weights.py").read_bytes())
    listing = {"files": [dataclasses.asdict(f) for f in plan.files], "token_origins": list(token_origins)}
    (bin_dir / "list.json").write_text(json.dumps(listing))
    return bin_dir


def _download_request(
    cfg: Config, cache: Path, *, image: str, run_id: str, bin_dir: Path, token: str, user: str, host_network: bool
) -> RunRequest:
    return RunRequest(
        image=image,
        command=("python", f"{BIN_DIR}/weights.py", f"{BIN_DIR}/list.json", CACHE_DIR),
        # The engine adds the state and session labels to every container (gc reaps by them).
        labels=(("harness.run", run_id), ("harness.purpose", "weights")),
        mounts=(
            Mount(source=str(bin_dir), target=BIN_DIR, read_only=True),
            Mount(source=str(cache), target=CACHE_DIR, read_only=False),
        ),
        environment=(("HF_TOKEN", token),) if token else (),
        gpu=GpuPlan(mode="none", reason="weights pull needs no GPU"),
        timeout_s=float(max(cfg.run_timeout_s, 6 * 3600)),
        name=f"harness-weights-{run_id}",
        network=True,
        host_network=host_network,
        limits=dataclasses.replace(cfg.limits, user=user),
    )


def pull_weights(
    cfg: Config,
    commit: Commit,
    *,
    upstream: Upstream,
    builder: ImageBuilder,
    runner: ContainerRunner,
    reporter: Reporter,
    run_id: str,
    run_dir: Path,
    token: str,
    token_origins: tuple[str, ...] = HF_ORIGINS,
    host_network: bool = False,
) -> dict[str, Any]:
    """Resolve (no upstream code), then download in a container holding no upstream code.

    `host_network` keeps the download on the host's loopback (a test's local server)."""
    cache = cfg.model_cache
    if cache is None:
        raise ConfigError(str(cfg.source), "run.model_cache", "required for weights pull: the folder to fill")
    plan = plan_weights(upstream, commit.sha, cfg.suite.overlays, tuple(c.model for c in cfg.suite.cases))
    models = ", ".join(plan.models)
    reporter.step(f"weights: {len(plan.files)} files for {models} (from the definitions at {commit.short})")
    user = _downloader_user(cfg, cache, plan.files)
    image = _env_image(cfg, builder, reporter)
    bin_dir = _write_bin(run_dir, plan, token_origins)
    request = _download_request(
        cfg, cache, image=image, run_id=run_id, bin_dir=bin_dir, token=token, user=user, host_network=host_network
    )
    log = run_dir / "weights.log"
    done = runner.run(request, log_path=str(log), on_line=reporter.line)
    if done.timed_out:
        raise RunInfraError(f"weights pull killed ({done.killed_for}); see {log}")
    return {"commit": commit.sha, **_report(plan, log, cache, done.exit_code)}


def pull_weights_at(
    cfg: Config,
    ref: str,
    *,
    upstream: Upstream,
    builder: ImageBuilder,
    runner: ContainerRunner,
    reporter: Reporter,
    clock: Callable[[], datetime.datetime],
    token: str,
) -> dict[str, Any]:
    """`weights pull`: the files named at `ref`, with a run id of their own (their log and the
    downloader's list go to <state_dir>/weights/<run id>)."""
    run_id = new_run_id(clock())
    return pull_weights(
        cfg,
        upstream.resolve(ref),
        upstream=upstream,
        builder=builder,
        runner=runner,
        reporter=reporter,
        run_id=run_id,
        run_dir=cfg.state_dir / "weights" / run_id,
        token=token,
    )

"""`weights pull` as one use case (harness/ops/weights.py `pull_weights_at`), over fakes of the ports."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest

from harness.config import Config, load_config
from harness.errors import ConfigError
from harness.ops.weights import PREFIX, pull_weights_at
from harness.runplan import RunRequest
from tests.unit.fakes import FakeBuilder, FakeRunner, FakeUpstream, Quiet, definition, sha

HF = "https://huggingface.co/o/r/resolve/main"
NOW = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
UNPRIVILEGED = 10001


def _config(tmp_path: Path, *, cache: bool = True) -> Config:
    (tmp_path / "up").mkdir()
    run = "run: {gpu: none, model_cache: ./models}" if cache else "run: {gpu: none}"
    (tmp_path / "harness.yaml").write_text(
        f"upstream: {{url: ./up}}\ncontract: none\nimage: {{repo: harness-test/weights}}\n{run}\n"
        "suite:\n  cases: [{id: t2v, model: t2v_tiny}]\n"
    )
    if cache:
        (tmp_path / "models").mkdir()
        if os.geteuid() == 0:  # the downloader never runs as root: the cache's owner must not be root
            os.chown(tmp_path / "models", UNPRIVILEGED, UNPRIVILEGED)
    return load_config(tmp_path / "harness.yaml")


def _upstream() -> FakeUpstream:
    files = {sha("c"): {"defaults/t2v_tiny.json": definition(f"{HF}/tiny.safetensors", f"{HF}/vae.pth")}}
    return FakeUpstream(refs={"main": sha("c")}, files=files)


def _downloader(failing: str = "") -> FakeRunner:
    """Answers like harness/runner/weights.py: one PREFIX line per file of the mounted list."""

    def answer(request: RunRequest, log: Path) -> None:
        listing = json.loads((Path(request.mounts[0].source) / "list.json").read_text())
        rows = [
            {"url": f["url"], "name": f["name"]} | ({"error": "HTTP 404"} if f["name"] == failing else {"bytes": 5})
            for f in listing["files"]
        ]
        log.write_text("pip noise\n" + "".join(f"{PREFIX}{json.dumps(r)}\n" for r in rows))

    return FakeRunner(answer, runtimes={"runc"})


def test_the_files_named_at_the_ref_are_downloaded_in_the_env_image(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    builder = FakeBuilder({"harness-base:bookworm": "sha256:" + "0" * 64})
    runner = _downloader()
    report = pull_weights_at(
        cfg,
        "main",
        upstream=_upstream(),
        builder=builder,
        runner=runner,
        reporter=Quiet(),
        clock=lambda: NOW,
        token="tok",
    )
    assert report["commit"] == sha("c") and report["models"] == ["t2v_tiny"] and report["errors"] == []
    cache = tmp_path / "models"
    assert [f["path"] for f in report["files"]] == [str(cache / n) for n in ("tiny.safetensors", "vae.pth")]
    assert report["total_bytes"] == 10
    (request,) = runner.requests
    assert [b.stage for b in builder.built] == ["env"] and request.image == builder.images[builder.built[0].tag]
    run_id = dict(request.labels)["harness.run"]
    assert run_id.startswith("20260304-050607-")  # a run id of its own, from the clock
    assert Path(request.mounts[0].source) == cfg.state_dir / "weights" / run_id / "bin"
    # The token reaches the container at run time only; the user is the cache's owner, never root.
    assert request.environment == (("HF_TOKEN", "tok"),)
    assert "tok" not in json.dumps([request.command, request.labels, request.name])
    owner = cache.stat()
    assert owner.st_uid != 0 and request.limits.user == f"{owner.st_uid}:{owner.st_gid}"
    assert request.gpu.mode == "none" and request.network


def test_a_file_that_fails_is_reported_with_why_and_the_rest_are_kept(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    builder = FakeBuilder({"harness-base:bookworm": "sha256:" + "0" * 64})
    report = pull_weights_at(
        cfg,
        "main",
        upstream=_upstream(),
        builder=builder,
        runner=_downloader(failing="vae.pth"),
        reporter=Quiet(),
        clock=lambda: NOW,
        token="",
    )
    assert [f["url"] for f in report["files"]] == [f"{HF}/tiny.safetensors"]
    assert report["errors"] == [f"{HF}/vae.pth: HTTP 404"]


def test_without_a_model_cache_nothing_is_built_or_run(tmp_path: Path) -> None:
    cfg = _config(tmp_path, cache=False)
    builder, runner = FakeBuilder(), _downloader()
    with pytest.raises(ConfigError) as info:
        pull_weights_at(
            cfg,
            "main",
            upstream=_upstream(),
            builder=builder,
            runner=runner,
            reporter=Quiet(),
            clock=lambda: NOW,
            token="",
        )
    assert info.value.key == "run.model_cache"
    assert builder.built == [] and runner.requests == []

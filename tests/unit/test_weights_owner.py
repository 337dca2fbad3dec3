"""weights pull refuses a root-owned cache before anything runs: the downloader never runs as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError
from harness.model import Commit
from harness.ops.weights import pull_weights
from tests.unit.fakes import FakeBuilder, FakeRunner, FakeUpstream, Quiet

DEFINITION = b'{"model": {"URLs": ["https://huggingface.co/o/r/resolve/main/w.safetensors"]}}'


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a root-owned folder")
def test_a_root_owned_cache_with_files_to_fetch_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "models").mkdir()  # created by root: owned by root
    (tmp_path / "harness.yaml").write_text(
        "upstream: {url: ./up}\ncontract: none\nimage: {repo: harness-test/owner}\n"
        "run: {gpu: none, model_cache: ./models}\nsuite:\n  cases: [{id: t2v, model: t2v_tiny}]\n"
    )
    cfg = load_config(tmp_path / "harness.yaml")
    with pytest.raises(ConfigError) as info:
        pull_weights(
            cfg,
            Commit(sha="a" * 40, message="m", author="a", date="2026-01-01"),
            upstream=FakeUpstream(
                files={"a" * 40: {"defaults/t2v_tiny.json": DEFINITION}}, expect={"list_files", "read_file"}
            ),
            builder=FakeBuilder(expect=()),  # nothing may be built or run
            runner=FakeRunner(expect=()),
            reporter=Quiet(),
            run_id="r",
            run_dir=tmp_path / "run",
            token="t",
        )
    assert info.value.key == "run.model_cache" and "chown -R 10001:10001" in str(info.value)

"""A deps build whose base (the env image harness built) vanished is infra, never the commit's.

Seen under load: another process removed the env image mid-bisect, the engine tried to pull it,
and the deps failure (the engine's message was not in the log tail) named the infra commit of
tests/integration/test_bisect.py as the culprit.
"""

from __future__ import annotations

import io

import pytest

from harness.adapters.engine import Engine
from harness.errors import BuildFailed
from harness.evaluate import classify_build_failure
from harness.model import BuildSpec, Verdict
from harness.tarball import write_context
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration


def test_a_deps_build_whose_env_image_is_gone_is_infra(engine: Engine) -> None:
    missing = f"{unique_repo()}-env:gone"
    spec = BuildSpec(
        stage="deps",
        tag=f"{unique_repo()}-deps:x",
        key="x",
        dockerfile=f"FROM {missing}\nRUN pip install -r requirements.txt\n",
        files=(),
    )
    context = io.BytesIO()
    write_context(spec, context)
    context.seek(0)
    with pytest.raises(BuildFailed) as failed:
        engine.images.build(spec, context, timeout_s=120, on_line=lambda line: None)
    assert failed.value.log_tail[-1] in str(failed.value)  # the engine's own message is in the tail
    assert classify_build_failure("deps", failed.value.log_tail) is Verdict.ERROR

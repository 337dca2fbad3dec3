"""A recorded verdict answers only for the contract, suite and level that produced it (issue 12).

Real git history, the CLI, no engine: contract-level bisects. Under contract A (the global
`save_path`) commit 2 is the culprit; under contract B (the global `server_config`) it is
commit 5. The same contract file is rewritten between the two bisects, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.adapters.git_repo import write_commits
from harness.cli import app
from harness.config import load_config
from harness.sample.make import template
from harness.store import Store
from tests.conftest import write_config
from tests.integration.conftest import unique_repo

pytestmark = pytest.mark.integration
WGP = template()["wgp.py"] or ""
NO_SAVE_PATH = WGP.replace("save_path", "save_dir")
CONTRACT_A = "files: [wgp.py]\nglobals: [save_path]\n"
CONTRACT_B = "files: [wgp.py]\nglobals: [server_config]\n"


def _history() -> list[tuple[str, dict[str, str | None]]]:
    return [
        ("base", template()),
        ("docs", {"README.md": "1\n"}),
        ("drop save_path", {"wgp.py": NO_SAVE_PATH}),
        ("docs 3", {"README.md": "3\n"}),
        ("docs 4", {"README.md": "4\n"}),
        ("rename server_config", {"wgp.py": NO_SAVE_PATH.replace("server_config", "server_settings")}),
        ("docs 6", {"README.md": "6\n"}),
    ]


def _bisect(config: Path, shas: list[str]) -> dict[str, Any]:
    args = ["-c", str(config), "bisect", "--level", "contract", "--good", shas[0], "--bad", shas[-1], "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)  # JSON: the test reads the keys it knows
    return doc


def test_a_changed_contract_reuses_no_verdict_and_names_its_own_culprit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # none of this needs one
    shas = write_commits(tmp_path / "upstream", _history())
    contract = tmp_path / "contract.yaml"
    contract.write_text(CONTRACT_A)
    config = write_config(tmp_path, upstream=tmp_path / "upstream", repo=unique_repo("keys"))
    config.write_text(config.read_text().replace("contract: ", f"contract: {contract}\n# was: "))
    first = _bisect(config, shas)
    assert first["first_bad"] == shas[2]
    contract.write_text(CONTRACT_B)
    second = _bisect(config, shas)
    assert second["first_bad"] == shas[5], f"named {str(second['first_bad'])[:12]}, the culprit under contract A"
    assert {p["source"] for p in second["probes"]} == {"fresh"}
    # Back to contract A: its own records answer again, and only they.
    contract.write_text(CONTRACT_A)
    third = _bisect(config, shas)
    assert {p["source"] for p in third["probes"]} == {"reused"}
    assert third["first_bad"] == shas[2]
    store = Store(load_config(config).state_dir / "state.db")
    try:
        assert len({r.contract_hash for r in store.runs(1000)}) == 2
    finally:
        store.close()

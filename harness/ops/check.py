"""check: the contract at one upstream commit, read from git (no checkout, no import)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.contract import Contract, ItemResult, check, holds
from harness.model import Commit, RunRecord, Verdict
from harness.plan import ContractPlan
from harness.ports import Upstream

SOURCES = ("wgp.py", "shared/api.py", "shared/cli_args.py")
# CPython 3.11's ast.parse is not thread-safe: two threads parsing at once (parallel runs, each
# checking its commit's contract) raised "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). The check parses a few files in milliseconds: one at a time costs nothing.
_AST_LOCK = threading.Lock()
UNSAFE_ENTRY = "no checkout may write this tree entry (git refuses to make it; the commit was crafted)"


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    commit: Commit
    items: tuple[ItemResult, ...]
    seconds: float

    @property
    def holds(self) -> bool:
        return holds(list(self.items))


def model_ids(upstream: Upstream, sha: str) -> set[str]:
    return {
        name.removesuffix(".json")
        for folder in ("defaults", "finetunes")
        for name in upstream.list_files(sha, folder)
        if name.endswith(".json")
    }


def overlay_ids(overlays: Path | None) -> set[str]:
    return {p.stem for p in overlays.glob("*.json")} if overlays else set()


def read_sources(upstream: Upstream, sha: str, files: tuple[str, ...]) -> dict[str, str | None]:
    sources: dict[str, str | None] = {}
    for name in dict.fromkeys((*files, *SOURCES)):
        data = upstream.read_file(sha, name)
        sources[name] = data.decode("utf-8", "replace") if data is not None else None
    return sources


def check_commit(
    upstream: Upstream, commit: Commit, contract: Contract, *, overlays: Path | None, suite_models: tuple[str, ...]
) -> CheckResult:
    return _check(upstream, commit, contract, overlay_ids(overlays), suite_models)


def check_planned(upstream: Upstream, commit: Commit, plan: ContractPlan) -> CheckResult | None:
    """`check_commit` by the plan's contract, loaded with the overlays' models; None: no contract."""
    if plan.contract is None:
        return None
    return _check(upstream, commit, plan.contract, set(plan.overlay_ids), plan.suite_models)


def _check(
    upstream: Upstream, commit: Commit, contract: Contract, overlays: set[str], suite_models: tuple[str, ...]
) -> CheckResult:
    started = time.monotonic()
    if unsafe := upstream.unsafe_tree(commit.sha):  # a crafted tree: nothing in it is read
        refused = tuple(ItemResult(kind="tree", name=p, status="error", reasons=(UNSAFE_ENTRY,)) for p in unsafe.paths)
        return CheckResult(commit=commit, items=refused, seconds=time.monotonic() - started)
    sources = read_sources(upstream, commit.sha, contract.files)
    model_names = model_ids(upstream, commit.sha)
    with _AST_LOCK:
        items = check(contract, sources, model_ids=model_names, overlay_ids=overlays, suite_models=suite_models)
    return CheckResult(commit=commit, items=tuple(items), seconds=time.monotonic() - started)


def contract_record(
    result: CheckResult | None,
    *,
    commit: str = "",
    run_id: str,
    started: str,
    suite: str,
    suite_hash: str,
    contract_hash: str,
    refused: str = "",
) -> RunRecord:
    """A contract check as a run record (level `contract`), so bisect and history reuse it.
    `refused`: why the commit failed before any check (a patch_conflict), with `result` None."""
    broken = [r for r in result.items if r.status != "ok"] if result else []
    summary = refused or (
        "contract holds"
        if not broken
        else "contract broken: " + "; ".join(f"{r.name}: {', '.join(r.reasons)}" for r in broken)
    )
    return RunRecord(
        run_id=run_id,
        commit=result.commit.sha if result else commit,
        image_id="",
        image_tag="",
        deps_key="",
        suite=suite,
        suite_hash=suite_hash,
        contract_hash=contract_hash,
        verdict=Verdict.FAIL if broken or refused else Verdict.PASS,
        summary=summary,
        cases=(),
        started=started,
        build_seconds=0.0,
        run_seconds=round(result.seconds, 3) if result else 0.0,
        run_dir="",
        level="contract",
    )

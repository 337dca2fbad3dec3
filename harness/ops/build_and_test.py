"""build-and-test: resolve, build, run, judge, record, and move `:last-good` forward."""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config import ClipKind, Config
from harness.contract import load_contract
from harness.diskfull import DiskFull, mapped
from harness.errors import BuildFailed, InfraError, UnsafeTree
from harness.evaluate import classify_build_failure, evaluate, evaluate_smoke
from harness.model import LEVELS as LEVELS  # re-exported: the CLI checks --level against it
from harness.model import CaseResult, Commit, RunOutcome, RunRecord, Verdict, as_level
from harness.naming import LAST_GOOD
from harness.ops.build import BuiltImage, build_commit_image
from harness.ops.check import check_commit, contract_digest
from harness.ops.gpu_checks import drift_reference, host_preflight, image_preflight
from harness.ops.test import FramesReader, VideoProbe, run_suite
from harness.ports import ContainerRunner, GpuProbe, ImageBuilder, Reporter, RunStore, StateStore, Upstream
from harness.runfolder import claim as claim_run_dir

Clock = Callable[[], datetime.datetime]


@dataclass(frozen=True, kw_only=True)
class World:
    """Everything outside the core that build-and-test touches, injected by the CLI or tests."""

    upstream: Upstream
    builder: ImageBuilder
    runner: ContainerRunner
    gpu: GpuProbe
    probe: VideoProbe
    frames: FramesReader
    sample_clip: Callable[[Path, ClipKind], None]  # writes the deterministic guide or mask clip of `generated`
    store: StateStore
    reporter: Reporter
    clock: Clock
    session: str


@dataclass(frozen=True, kw_only=True)
class Result:
    record: RunRecord
    commit: Commit
    moved_last_good: bool
    built: BuiltImage | None


def new_run_id(now: datetime.datetime) -> str:
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def record_run(store: RunStore, record: RunRecord, *, is_ancestor: Callable[[str, str], bool]) -> bool:
    """Record a judged run; a PASS moves `:last-good` in the store, only forward in upstream
    history (like PyTorch's viable/strict). Check and move are one store transaction, so runs
    finishing at once cannot move it back. Whether it moved."""
    move = LAST_GOOD if record.verdict is Verdict.PASS else None
    return store.add_run(record, move_pointer=move, is_ancestor=is_ancestor)


def follow_last_good(store: RunStore, tag: Callable[[str], None]) -> str | None:
    """`tag` the store's `last-good` image (the store is the truth: a run that moved it further
    meanwhile wins), again if it moved while tagging. The image id tagged, or None."""
    tagged = None
    while (pointer := store.pointer(LAST_GOOD)) is not None and pointer.image_id != tagged:
        tag(pointer.image_id)
        tagged = pointer.image_id
    return tagged


def facts(
    commit: str, suite: str, suite_hash: str, contract_hash: str, level: str, started: datetime.datetime
) -> dict[str, str]:
    """What a run folder's owner file says: enough to record the run as interrupted if it dies."""
    return {
        "commit": commit,
        "suite": suite,
        "suite_hash": suite_hash,
        "contract_hash": contract_hash,
        "level": level,
        "started": started.isoformat(timespec="seconds"),
    }


def default_level(cfg: Config, gpu: GpuProbe) -> tuple[str, str]:
    """The deepest level this host can run, and why."""
    if cfg.suite.requires_gpu and (cfg.gpu == "none" or not gpu.gpus()[0]):
        return "smoke", "the suite needs a GPU and none is usable here (--level baseline to insist)"
    return "baseline", "the full suite"


def build_and_test(
    cfg: Config, ref: str, world: World, *, rebuild: bool = False, no_cache: bool = False, level: str | None = None
) -> Result:
    commit = world.upstream.resolve(ref)
    resolution = world.upstream.resolution(ref)
    if resolution is not None and resolution.ref != resolution.sha:  # a bisect probe's full sha says nothing new
        world.reporter.step(f"ref {resolution.line()}")
    if level is None:
        level, why = default_level(cfg, world.gpu)
        world.reporter.step(f"level {level}: {why}")
    started = world.clock()
    run_id = new_run_id(started)
    run_dir = cfg.state_dir / "runs" / run_id
    suite_hash = cfg.suite.digest()  # hashes overlay and input files: once per run
    contract_hash = contract_digest(cfg.contract)  # what the check below judges by ("none": nothing)
    # Held until the run is recorded: a run folder whose owner died unrecorded is recorded as
    # interrupted by the next store opening (runfolder.py).
    owner = claim_run_dir(run_dir, facts(commit.sha, cfg.suite.name, suite_hash, contract_hash, level, started))
    world.reporter.step(f"run {run_id}: commit {commit.short} {commit.subject!r}")

    def record(
        verdict: Verdict,
        summary: str,
        built: BuiltImage | None = None,
        cases: tuple[CaseResult, ...] = (),
        run_seconds: float = 0.0,
    ) -> RunRecord:
        return RunRecord(
            run_id=run_id,
            commit=commit.sha,
            suite=cfg.suite.name,
            suite_hash=suite_hash,
            contract_hash=contract_hash,
            started=started.isoformat(timespec="seconds"),
            run_dir=str(run_dir),
            cases=cases,
            image_id=built.image_id if built else "",
            image_tag=built.tag if built else "",
            deps_key=built.deps_key if built else "",
            verdict=verdict,
            summary=summary,
            build_seconds=built.seconds if built else 0.0,
            run_seconds=run_seconds,
            level=as_level(level),  # a str from the CLI, checked there against LEVELS
        )

    def stop(verdict: Verdict, summary: str, built: BuiltImage | None = None, run_seconds: float = 0.0) -> Result:
        """End without a baseline verdict: record why (nothing is tagged) and return."""
        failed = record(verdict, summary, built, run_seconds=run_seconds)
        world.store.add_run(failed)
        owner.release()
        return Result(record=failed, commit=commit, moved_last_good=False, built=built)

    if unsafe := world.upstream.unsafe_entries(commit.sha):  # a crafted tree: the commit's FAIL, nothing built
        return stop(Verdict.FAIL, str(UnsafeTree(commit.sha, unsafe)))
    if cfg.contract is not None:
        checked = check_commit(
            world.upstream,
            commit,
            load_contract(cfg.contract),
            overlays=cfg.suite.overlays,
            suite_models=tuple(c.model for c in cfg.suite.cases),
        )
        broken = [r for r in checked.items if r.status != "ok"]
        world.reporter.step(
            f"contract: {'holds' if not broken else f'{len(broken)} items broken'} ({checked.seconds:.2f} s)"
        )
        if broken:
            reasons = "; ".join(f"{r.name}: {', '.join(r.reasons)}" for r in broken)
            return stop(Verdict.FAIL, f"contract broken (nothing built): {reasons}")
    if level == "contract":
        return stop(Verdict.PASS, "contract holds" if cfg.contract else "no contract configured")
    problem = host_preflight(cfg, world.gpu) if level == "baseline" else None
    if problem:
        return stop(Verdict.ERROR, f"GPU preflight: {problem}")
    try:
        built = build_commit_image(
            cfg,
            commit,
            upstream=world.upstream,
            builder=world.builder,
            reporter=world.reporter,
            created=started.isoformat(timespec="seconds"),
            rebuild=rebuild,
            no_cache=no_cache,
        )
    except (BuildFailed, InfraError) as exc:
        verdict = Verdict.ERROR
        if isinstance(exc, BuildFailed):
            verdict = classify_build_failure(exc.stage, exc.log_tail)
            verdict, summary = _write(run_dir / "build.log", "\n".join(exc.log_tail) + "\n", verdict, str(exc))
            return stop(verdict, summary)
        return stop(verdict, str(exc))
    problem = image_preflight(cfg, world.gpu, world.builder, built.image_id) if level == "baseline" else None
    if problem:
        return stop(Verdict.ERROR, f"GPU preflight: {problem}", built)
    labels = {"harness.run": run_id, "harness.commit": commit.sha, "harness.session": world.session}

    def attempt() -> RunOutcome:
        return run_suite(
            cfg,
            image=built.image_id,
            run_id=run_id,
            run_dir=run_dir,
            labels=labels,
            runner=world.runner,
            gpu_probe=world.gpu,
            probe=world.probe,
            reporter=world.reporter,
            frames=world.frames,
            reference=drift_reference(world.store, suite_hash),
            smoke=level == "smoke",
            sample_clip=world.sample_clip,
        )

    outcome = attempt()
    if level == "smoke":
        verdict, summary = evaluate_smoke(outcome)
        doc = json.dumps({**(outcome.results or {}), "verdict": verdict.value, "summary": summary}, indent=2)
        verdict, summary = _write(run_dir / "results.json", doc, verdict, summary)
        return stop(verdict, summary, built, outcome.seconds)
    verdict, summary, cases = evaluate(cfg.suite, outcome)
    for retry in range(1, cfg.suite.retries + 1):
        if verdict is not Verdict.FAIL:
            break
        world.reporter.step(f"FAIL ({summary}); retry {retry} of {cfg.suite.retries} (suite.retries)")
        outcome = attempt()
        again, again_summary, cases = evaluate(cfg.suite, outcome)
        if again is Verdict.PASS:
            verdict, summary = Verdict.FLAKY, f"flaky: failed ({summary}), then passed on retry {retry}"
        elif again is not Verdict.FAIL:
            verdict, summary = again, again_summary
    verdict, summary = _write_results(run_dir, outcome.results, cases, verdict, summary)
    done = record(verdict, summary, built, cases, outcome.seconds)
    # Store first, then the tag: the store is the truth and the tag is derived from it.
    move = record_run(world.store, done, is_ancestor=world.upstream.is_ancestor)
    owner.release()
    if move:
        repo = built.tag.rsplit(":", 1)[0]
        tagged = follow_last_good(world.store, lambda image: world.builder.tag(image, repo, LAST_GOOD))
        world.reporter.step(
            f"{repo}:{LAST_GOOD} -> {built.tag}"
            if tagged == built.image_id
            else f"{repo}:{LAST_GOOD} moved on to {str(tagged)[7:19]} (a newer commit passed meanwhile)"
        )
    return Result(record=done, commit=commit, moved_last_good=move, built=built)


def _write(path: Path, text: str, verdict: Verdict, summary: str) -> tuple[Verdict, str]:
    """Write a file of the run folder. On a full disk the partial file goes and the run becomes
    infra (ERROR, exit 125) saying what was judged and kept: the verdict stays in the record."""
    try:
        with mapped(f"writing {path}", f"the partial file was removed, the rest of {path.parent} is kept"):
            path.write_text(text)
    except DiskFull as exc:
        path.unlink(missing_ok=True)
        return Verdict.ERROR, f"{exc} (judged {verdict.value} before: {summary})"
    return verdict, summary


def _write_results(
    run_dir: Path, results: dict[str, object] | None, cases: tuple[CaseResult, ...], verdict: Verdict, summary: str
) -> tuple[Verdict, str]:
    """results.json in the old schema plus the harness's own checks per case; the verdict and
    summary to record (ERROR on a full disk, see `_write`)."""
    doc = dict(results or {"results": []})
    checks = {c.case_id: dataclasses.asdict(c) | {"verdict": c.verdict.value} for c in cases}
    rows = doc.get("results")
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("case_id") in checks:
            row["checks"] = checks[row["case_id"]]
    doc["verdict"] = verdict.value
    doc["summary"] = summary
    return _write(run_dir / "results.json", json.dumps(doc, indent=2, default=str), verdict, summary)

"""build-and-test: from a loaded plan, start a run, execute it, record it.

Loading (harness/plan.py) has read the config, recipe, suite and contract before any engine or
git call; here the run resolves the ref and claims its folder (start), builds, checks and
runs the suite (execute: each stop path a verdict), then writes the store and moves
`:last-good` forward on a baseline PASS (record).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config import ClipKind
from harness.diskfull import DiskFull, mapped
from harness.errors import BuildFailed, InfraError, PatchConflict, UsageError
from harness.evaluate import classify_build_failure, evaluate_smoke, evaluate_with_retries
from harness.model import LEVELS as LEVELS  # re-exported: the CLI checks --level against it
from harness.model import CaseResult, Commit, Level, RunOutcome, RunRecord, Verdict
from harness.naming import LAST_GOOD, WRAPPER_LABEL
from harness.ops.build import BuiltImage, WrapperSource, build_commit_image
from harness.ops.check import check_planned
from harness.ops.gpu_checks import drift_reference, host_preflight, image_preflight
from harness.ops.test import FramesReader, VideoProbe, run_suite
from harness.plan import GpuNeeds, Plan, SuitePlan
from harness.ports import ContainerRunner, GpuProbe, ImageBuilder, Reporter, RunStore, StateStore, Upstream
from harness.runfolder import OwnerLock, abandon
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
    wrapper: Upstream | None = None  # wrapper mode: the wrapper's repository (its own mirror)


@dataclass(frozen=True, kw_only=True)
class Result:
    record: RunRecord
    commit: Commit
    moved_last_good: bool
    built: BuiltImage | None


@dataclass(frozen=True, kw_only=True)
class Run:
    """A started run: what its record will say it answers for, and its claimed folder."""

    run_id: str
    commit: Commit
    level: Level
    started: datetime.datetime
    run_dir: Path
    suite: str
    suite_hash: str
    contract_hash: str
    owner: OwnerLock  # held until the run is recorded (runfolder.py)
    wrapper: Commit | None = None  # wrapper mode: the wrapper's commit tested with `commit`


@dataclass(frozen=True, kw_only=True)
class Judged:
    """How an executed run ended: a verdict, whether it got as far as a judged baseline or stopped before."""

    verdict: Verdict
    summary: str
    built: BuiltImage | None = None
    cases: tuple[CaseResult, ...] = ()
    run_seconds: float = 0.0
    baseline: bool = False  # a judged baseline: only its PASS moves last-good
    node: str = ""  # on a fleet: where its test ran
    image_digest: str = ""  # on a fleet: the digest it ran from


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
    commit: str,
    suite: str,
    suite_hash: str,
    contract_hash: str,
    level: str,
    started: datetime.datetime,
    wrapper: str = "",
) -> dict[str, str]:
    """What a run folder's owner file says: enough to record the run as interrupted if it dies."""
    return {
        "wrapper": wrapper,
        "commit": commit,
        "suite": suite,
        "suite_hash": suite_hash,
        "contract_hash": contract_hash,
        "level": level,
        "started": started.isoformat(timespec="seconds"),
    }


def default_level(needs: GpuNeeds, gpu: GpuProbe) -> tuple[Level, str]:
    """The deepest level this host can run, and why."""
    if needs.requires_gpu and (needs.mode == "none" or not gpu.gpus()[0]):
        return "smoke", "the suite needs a GPU and none is usable here (--level baseline to insist)"
    return "baseline", "the full suite"


def build_and_test(plan: Plan, world: World) -> Result:
    """Build the image of the plan's ref, run its suite, judge the videos, record the run."""
    run = start_run(plan, world)
    try:
        judged = execute(plan, run, world)
    except UsageError:
        # Refused before anything ran (another state's repository, a mount no fleet node has: exit
        # 128): no run happened, so none is recorded, not even later as an interrupted one.
        abandon(run.run_dir, run.owner)
        raise
    return record(run, judged, world)


def start_run(plan: Plan, world: World) -> Run:
    """Resolve the ref, pick the level (the deepest this host can run, unless asked) and claim
    the run's folder: a folder whose owner dies unrecorded is recorded as interrupted later."""
    commit = world.upstream.resolve(plan.ref)
    _say_resolution(world.upstream, plan.ref, world.reporter, "ref")
    wrapper = _wrapper_commit(plan, world)
    level = plan.level
    if level is None:
        level, why = default_level(plan.test.gpu, world.gpu)
        world.reporter.step(f"level {level}: {why}")
    started = world.clock()
    run_id = new_run_id(started)
    run_dir = plan.runs_dir / run_id
    contract_hash = plan.contract.digest  # what the check judges by ("none": nothing)
    wrapper_sha = wrapper.sha if wrapper else ""
    owner = claim_run_dir(
        run_dir, facts(commit.sha, plan.suite, plan.suite_hash, contract_hash, level, started, wrapper_sha)
    )
    run = Run(
        run_id=run_id,
        commit=commit,
        level=level,
        started=started,
        run_dir=run_dir,
        suite=plan.suite,
        suite_hash=plan.suite_hash,
        contract_hash=contract_hash,
        owner=owner,
        wrapper=wrapper,
    )
    with_wrapper = f", wrapper {wrapper.short} {wrapper.subject!r}" if wrapper else ""
    world.reporter.step(f"run {run_id}: commit {commit.short} {commit.subject!r}{with_wrapper}")
    return run


def _say_resolution(repo: Upstream, ref: str, reporter: Reporter, what: str) -> None:
    resolution = repo.resolution(ref)
    if resolution is not None and resolution.ref != resolution.sha:  # a bisect probe's full sha says nothing new
        reporter.step(f"{what} {resolution.line()}")


def _wrapper_commit(plan: Plan, world: World) -> Commit | None:
    """Wrapper mode: the wrapper's commit, resolved in its own mirror like upstream's."""
    if plan.wrapper is None:
        return None
    if world.wrapper is None:
        raise ValueError("wrapper mode without the wrapper's repository in the world")  # a wiring bug: exit 128
    commit = world.wrapper.resolve(plan.wrapper.ref)
    _say_resolution(world.wrapper, plan.wrapper.ref, world.reporter, "wrapper ref")
    return commit


def execute(plan: Plan, run: Run, world: World) -> Judged:
    """Check, build and run: each stop on the way is a verdict of its own (nothing is tagged)."""
    stopped = _before_build(plan, run, world)
    if stopped is not None:
        return stopped
    built = _build(plan, run, world)
    if isinstance(built, Judged):
        return built
    problem = (
        image_preflight(plan.test.gpu, world.gpu, world.builder, built.image_id) if run.level == "baseline" else None
    )
    if problem:
        return Judged(verdict=Verdict.ERROR, summary=f"GPU preflight: {problem}", built=built)
    if run.level == "smoke":
        return _smoke(plan.test, run, built, world)
    return _baseline(plan.test, run, built, world)


def record(run: Run, judged: Judged, world: World) -> Result:
    """Store first, then the tag: the store is the truth and the tag is derived from it."""
    built = judged.built
    done = RunRecord(
        run_id=run.run_id,
        commit=run.commit.sha,
        suite=run.suite,
        suite_hash=run.suite_hash,
        contract_hash=run.contract_hash,
        started=run.started.isoformat(timespec="seconds"),
        run_dir=str(run.run_dir),
        cases=judged.cases,
        image_id=built.image_id if built else "",
        image_tag=built.tag if built else "",
        deps_key=built.deps_key if built else "",
        verdict=judged.verdict,
        summary=judged.summary,
        build_seconds=built.seconds if built else 0.0,
        run_seconds=judged.run_seconds,
        level=run.level,
        wrapper=run.wrapper.sha if run.wrapper else "",
        node=judged.node,
        image_digest=judged.image_digest,
    )
    move = False
    if judged.baseline:
        move = record_run(world.store, done, is_ancestor=world.upstream.is_ancestor)
    else:
        world.store.add_run(done)
    run.owner.release()
    if move and built is not None:
        _tag_last_good(built, world)
    return Result(record=done, commit=run.commit, moved_last_good=move, built=built)


def _tag_last_good(built: BuiltImage, world: World) -> None:
    repo = built.tag.rsplit(":", 1)[0]
    tagged = follow_last_good(world.store, lambda image: world.builder.tag(image, repo, LAST_GOOD))
    world.reporter.step(
        f"{repo}:{LAST_GOOD} -> {built.tag}"
        if tagged == built.image_id
        else f"{repo}:{LAST_GOOD} moved on to {str(tagged)[7:19]} (a newer commit passed meanwhile)"
    )


def _before_build(plan: Plan, run: Run, world: World) -> Judged | None:
    """The stops before anything is built: a crafted tree, a broken contract, level contract,
    the host's GPU preflight (baseline only)."""
    if unsafe := world.upstream.unsafe_tree(run.commit.sha):  # a crafted tree: the commit's FAIL
        return Judged(verdict=Verdict.FAIL, summary=str(unsafe))
    if conflict := patch_conflict(plan, run.commit, world.upstream, world.reporter):
        return Judged(verdict=Verdict.FAIL, summary=str(conflict))
    checked = check_planned(world.upstream, run.commit, plan.contract)
    if checked is not None:
        broken = [r for r in checked.items if r.status != "ok"]
        world.reporter.step(
            f"contract: {'holds' if not broken else f'{len(broken)} items broken'} ({checked.seconds:.2f} s)"
        )
        if broken:
            reasons = "; ".join(f"{r.name}: {', '.join(r.reasons)}" for r in broken)
            return Judged(verdict=Verdict.FAIL, summary=f"contract broken (nothing built): {reasons}")
    if run.level == "contract":
        return Judged(verdict=Verdict.PASS, summary="contract holds" if checked else "no contract configured")
    problem = host_preflight(plan.test.gpu, world.gpu) if run.level == "baseline" else None
    return Judged(verdict=Verdict.ERROR, summary=f"GPU preflight: {problem}") if problem else None


def patch_conflict(plan: Plan, commit: Commit, upstream: Upstream, reporter: Reporter) -> PatchConflict | None:
    """Wrapper mode: the wrapper's patches on upstream's tree (cheap: git, no build). One that no
    longer applies is the pair's own verdict, patch_conflict (FAIL, exit 1: the wrapper must act)."""
    series = plan.wrapper.series if plan.wrapper else None
    if series is None:
        return None
    try:
        upstream.apply_series(commit.sha, series)
    except PatchConflict as exc:
        return exc
    reporter.step(f"patches: {len(series.patches)} apply to {commit.short}")
    return None


def _build(plan: Plan, run: Run, world: World) -> BuiltImage | Judged:
    """The commit's image, or the verdict of its failed build: FAIL only when the commit's own
    requirements broke it, ERROR (infra) otherwise; the build log's tail kept in the run folder."""
    try:
        return build_commit_image(
            plan.build,
            run.commit,
            upstream=world.upstream,
            builder=world.builder,
            reporter=world.reporter,
            created=run.started.isoformat(timespec="seconds"),
            state=world.store.state_id(),
            rebuild=plan.rebuild,
            no_cache=plan.no_cache,
            wrapper=WrapperSource(repo=world.wrapper, commit=run.wrapper) if world.wrapper and run.wrapper else None,
        )
    except BuildFailed as exc:
        verdict = classify_build_failure(exc.stage, exc.log_tail)
        verdict, summary = _write(run.run_dir / "build.log", "\n".join(exc.log_tail) + "\n", verdict, str(exc))
        return Judged(verdict=verdict, summary=summary)
    except InfraError as exc:
        return Judged(verdict=Verdict.ERROR, summary=str(exc))
    except PatchConflict as exc:  # checked before the build; a bisect's build-ahead meets it here
        return Judged(verdict=Verdict.FAIL, summary=str(exc))


def _attempt(test: SuitePlan, run: Run, built: BuiltImage, world: World) -> RunOutcome:
    """One run of the suite; its videos compared with last-good's as it is now (same suite only)."""
    reference = drift_reference(world.store, run.suite_hash)
    outcome = run_suite(
        test,
        image=built.image_id,
        run_id=run.run_id,
        run_dir=run.run_dir,
        labels={
            "harness.run": run.run_id,
            "harness.commit": run.commit.sha,
            "harness.session": world.session,
            **({WRAPPER_LABEL: run.wrapper.sha} if run.wrapper else {}),
        },
        runner=world.runner,
        gpu_probe=world.gpu,
        probe=world.probe,
        reporter=world.reporter,
        frames=world.frames,
        reference=reference.videos,
        smoke=run.level == "smoke",
        sample_clip=world.sample_clip,
    )
    return dataclasses.replace(outcome, drift_ref=reference.run_id) if outcome.drift else outcome


def _smoke(test: SuitePlan, run: Run, built: BuiltImage, world: World) -> Judged:
    """Import upstream on the CPU and resolve the suite's models: recorded, never last-good."""
    outcome = _attempt(test, run, built, world)
    verdict, summary = evaluate_smoke(outcome)
    doc = json.dumps({**(outcome.results or {}), "verdict": verdict.value, "summary": summary}, indent=2)
    verdict, summary = _write(run.run_dir / "results.json", doc, verdict, summary)
    return Judged(
        verdict=verdict,
        summary=summary,
        built=built,
        run_seconds=outcome.seconds,
        node=outcome.node,
        image_digest=outcome.image_digest,
    )


def _baseline(test: SuitePlan, run: Run, built: BuiltImage, world: World) -> Judged:
    """The full suite, a FAIL run again up to suite.retries times (evaluate.py judges the retries)."""
    verdict, summary, cases, outcome = evaluate_with_retries(
        test.suite, lambda: _attempt(test, run, built, world), world.reporter.step
    )
    verdict, summary = _write_results(run.run_dir, outcome.results, cases, verdict, summary)
    return Judged(
        verdict=verdict,
        summary=summary,
        built=built,
        cases=cases,
        run_seconds=outcome.seconds,
        baseline=True,
        node=outcome.node,
        image_digest=outcome.image_digest,
    )


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

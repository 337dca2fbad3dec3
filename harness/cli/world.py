"""Wiring: the only place the commands' adapters (engine, git, GPU, video, store) are made.

Each function hands a command the ports one use case needs; the command modules call these
and never construct an adapter themselves. Tests that need other wiring (the crash tests'
fault points) patch this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import getpass
import hashlib
import http.server
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.adapters.engine import Engine, connect
from harness.adapters.engine.connection import Connection
from harness.adapters.engine.registry import push
from harness.adapters.engine.swarm import SwarmRunner, fleet_gpus, remove_session_jobs
from harness.adapters.engine.swarm_service import SwarmService
from harness.adapters.git_repo import FetchSession, GitCheckout, GitUpstream
from harness.adapters.gpu import HostGpuProbe, NoLocalGpu
from harness.adapters.metrics import serve_metrics
from harness.adapters.notify import notifiers_for
from harness.adapters.site_files import SiteFolder
from harness.adapters.site_server import serve_site
from harness.adapters.video import VideoMedia, probe_video, read_frames, write_sample_clip
from harness.bisect_log import BisectLog
from harness.cli.app import state
from harness.compose import ServiceSpec, load_service
from harness.config import Config, default_config, load_config
from harness.contract import DEFAULT_CONTRACT, Contract, load_contract
from harness.derive import DerivedContract
from harness.errors import BisectError, DeployFailed, HarnessError, InfraError, UsageError
from harness.fleet import digest_ref
from harness.fleetconfig import FleetConfig
from harness.metrics import MetricsAddr, NullMetrics
from harness.model import Level, Release, RunKey, RunRecord
from harness.naming import STATE_LABEL, owner_labels
from harness.ops.bisect import run_bisect
from harness.ops.build_and_test import World, build_and_test
from harness.ops.deploy import Deployer, Deploys, promote_and_deploy
from harness.ops.derive import derive_contract
from harness.ops.diagnose import disk_free, host_reasons, suite_weights
from harness.ops.diff import DiffReport, diff, markdown
from harness.ops.fleet_deploy import FleetDeployer
from harness.ops.gc import gc, session_id
from harness.ops.notify import deliver
from harness.ops.parallel import Reap, reap_session, records, run_many, scheduler_for
from harness.ops.probe import UPSTREAM_ONLY, BisectWorld, Sides
from harness.ops.promote import Mover, promote, reconcile
from harness.ops.prune import prune_videos
from harness.ops.report import ReportWorld, image_facts, report, work_lines
from harness.ops.watch import BisectOutcome, Promotion, WatchView, WatchWorld, view
from harness.patches import series_for
from harness.plan import Plan, contract_digest, load_plan
from harness.ports import Metrics, Reporter
from harness.report import to_json
from harness.runfolder import in_progress
from harness.scheduler import GpuScheduler
from harness.site.facts import ImageFacts, Impact
from harness.statedir import WRAPPER_MIRRORS
from harness.store import Store
from harness.watch import JUDGING, Bisecting, WatchState
from harness.watchlock import holder

_FETCHES = threading.Lock()  # parallel runs make their upstream clients in worker threads


def config() -> Config:
    return load_config(state.config)


def config_or_defaults() -> Config:
    """For diagnostics: the config, or the defaults when none was given and none is here."""
    if state.config_given or state.config.exists():
        return load_config(state.config)
    return default_config(Path.cwd())


def store(cfg: Config) -> Store:
    return Store(cfg.state_dir / "state.db", runs_dir=cfg.runs_dir)


def store_file(path: Path) -> Store:
    return Store(path)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _fetch_session(cfg: Config) -> FetchSession:
    with _FETCHES:
        if state.fetches is None:
            state.fetches = FetchSession(offline=state.offline)
        session = state.fetches
    session.timeout_s = cfg.fetch_timeout_s
    return session


def upstream_for(cfg: Config) -> GitUpstream:
    """The command's upstream client (one per thread); they share the command's one fetch."""
    return GitUpstream(cfg.upstream_url, cfg.mirror_dir, _fetch_session(cfg))


def wrapper_source(cfg: Config, url: str | None = None) -> GitUpstream:
    """The git client of the wrapper a contract is derived from: the configured wrapper's
    mirror, or for another `url` (a URL, or a path relative to the current folder) a mirror of
    its own in the state folder."""
    configured = cfg.wrapper
    if url is None:
        if configured is None:
            raise UsageError(f"no `wrapper:` section in {cfg.source}: give --wrapper URL|PATH, or add one there")
        return GitUpstream(configured.url, configured.mirror_dir, _fetch_session(cfg), name="the wrapper")
    if "://" not in url and not url.startswith("git@"):
        url = str(Path(url).expanduser().resolve())
    if configured is not None and configured.url == url:
        mirror = configured.mirror_dir
    else:
        name = WRAPPER_MIRRORS.replace("*", hashlib.sha256(url.encode()).hexdigest()[:12])
        mirror = cfg.state_dir / name
    return GitUpstream(url, mirror, _fetch_session(cfg), name="the wrapper")


def derived_contract_at(cfg: Config, *, url: str | None = None, ref: str | None = None) -> DerivedContract:
    """The contract derived from the wrapper (the configured one unless `url`) at `ref`
    (default: the configured wrapper ref, else HEAD)."""
    wrapper = wrapper_source(cfg, url)
    configured = cfg.wrapper if cfg.wrapper is not None and cfg.wrapper.url == wrapper.url else None
    return derive_contract(
        wrapper,
        ref or (configured.ref if configured else "HEAD"),
        url=wrapper.url,
        upstream_dir=configured.upstream_dir if configured else "Wan2GP",
        command=configured.command if configured else "",
    )


def derived_contract(cfg: Config, ref: str | None = None) -> DerivedContract | None:
    """With `contract: derived`, the contract at the wrapper `ref` (default: the configured
    one); else None (the contract is a file the plan reads)."""
    return derived_contract_at(cfg, ref=ref) if cfg.contract_derived else None


def contract_hash(cfg: Config) -> str:
    """The digest of the contract that judges this config's runs (what promotion asks for)."""
    derived = derived_contract(cfg)
    return derived.digest if derived is not None else contract_digest(cfg.contract)


def wrapper_for(cfg: Config) -> GitUpstream | None:
    """Wrapper mode: the wrapper's repository in its own mirror, fetched like upstream's."""
    return wrapper_source(cfg) if cfg.wrapper is not None else None


def engine() -> Engine:
    """An engine client that labels nothing as this state's (diagnostics, reaping a session)."""
    return connect(os.environ)


def image_labels(image_id: str) -> dict[str, str] | None:
    """An image's labels; None when the engine cannot say (down, or the image is gone)."""
    docker = engine()
    try:
        return docker.images.image_labels(image_id) or None
    except InfraError:
        return None
    finally:
        docker.connection.close()


def owned_engine(cfg: Config, store: Store) -> Engine:
    """An engine client whose containers carry this state's labels (gc finds them by those)."""
    return connect(os.environ, owner=owner_labels(store.state_id(), cfg.state_dir))


def gpu() -> HostGpuProbe:
    return HostGpuProbe()


def checkout() -> GitCheckout:
    return GitCheckout()


def make_world(cfg: Config, reporter: Reporter, run_store: Store | None = None) -> World:
    """The real adapters behind build-and-test (and the probes of bisect)."""
    run_store = run_store or store(cfg)
    docker = owned_engine(cfg, run_store)
    fleet = fleet_runner(cfg, docker, run_store) if cfg.fleet else None
    return World(
        upstream=upstream_for(cfg),
        builder=docker.images,
        runner=fleet or docker.containers,
        gpu=NoLocalGpu() if fleet else gpu(),
        probe=probe_video,
        frames=read_frames,
        sample_clip=functools.partial(write_sample_clip, width=496, height=496, frames=81, seed=12345),
        store=run_store,
        reporter=reporter,
        clock=lambda: datetime.datetime.now(datetime.UTC),
        session=session_id(),
        wrapper=wrapper_for(cfg),
    )


def fleet_manager(cfg: Config, owner: dict[str, str]) -> Connection:
    """The fleet's Swarm manager (fleet.manager), its services labelled as this state's."""
    assert cfg.fleet is not None
    return Connection({**os.environ, "DOCKER_HOST": cfg.fleet.manager}, owner=owner)


def fleet_runner(cfg: Config, docker: Engine, run_store: Store) -> SwarmRunner:
    """Test runs as Swarm jobs: images pushed from this host's engine, outputs on fleet.results,
    the model cache at the same path on every node. Memory: only a configured run.memory_gib
    (the share of a node's RAM cannot be read from here)."""
    assert cfg.fleet is not None
    shared = (str(cfg.fleet.results), *((str(cfg.model_cache),) if cfg.model_cache else ()))
    return SwarmRunner(
        manager=fleet_manager(cfg, owner_labels(run_store.state_id(), cfg.state_dir)),
        builder=docker.connection,
        fleet=cfg.fleet,
        repo=cfg.repo,
        shared=shared,
        memory_bytes=cfg.limits.memory_bytes or 0,
    )


def scheduler(cfg: Config, *, slots: int, limit: int | None = None) -> GpuScheduler:
    """Hands out the host's GPUs to parallel runs, one each (or `slots` at once without GPUs, or
    when the runs get none: `run.gpu: none`). On a fleet, Swarm places the runs: at most as many
    at once as its nodes have GPUs."""
    if cfg.fleet is not None and cfg.gpu != "none":
        return GpuScheduler(
            [], cpu_slots=max(1, min(slots, fleet_gpus(fleet_manager(cfg, {}), cfg.fleet.gpu_resource)))
        )
    if cfg.gpu == "none":
        return GpuScheduler([], cpu_slots=slots)
    return scheduler_for(cfg.gpus, gpu(), slots=slots, limit=limit)


def reaper(cfg: Config) -> Reap:
    """Removes the containers of this process's session (on an interrupt of parallel runs), and
    on a fleet its Swarm jobs (a worker waiting for its task then ends at once)."""
    local = functools.partial(reap_session, engine().inventory, session_id())
    if cfg.fleet is None:
        return local
    manager = fleet_manager(cfg, {})

    def both() -> None:
        remove_session_jobs(manager, session_id())
        local()

    return both


def _parallel(cfg: Config, reporter: Reporter, jobs: int) -> Callable[[Plan, list[str]], dict[str, RunRecord]]:
    """Probes of one bisect round at once, one GPU each (or `jobs` at a time on a CPU host);
    the speculative start's too (`jobs` is then the endpoints plus the first round)."""

    def run(plan: Plan, shas: list[str]) -> dict[str, RunRecord]:
        many = run_many(
            plan,
            shas,
            make_world=lambda: make_world(cfg, reporter),
            scheduler=scheduler(cfg, slots=jobs, limit=jobs),
            reap=reaper(cfg),
        )
        return records(many)

    return run


def bisect_world(cfg: Config, reporter: Reporter, *, jobs: int) -> BisectWorld:
    run_store = store(cfg)  # one store: the world's runs and the bisect's steps
    world = make_world(cfg, reporter, run_store)
    owner = owner_labels(run_store.state_id(), cfg.state_dir)  # prefetch builders' containers
    return BisectWorld(
        world=world,
        log=BisectLog(run_store),
        make_upstream=lambda: upstream_for(cfg),
        make_builder=lambda: connect(os.environ, owner=owner).images,
        make_wrapper=lambda: wrapper_for(cfg),
        parallel=_parallel(cfg, reporter, jobs) if jobs > 1 else None,
        # The speculative start: both endpoints and the first round (`jobs` probes), a GPU each
        # among run.gpus, or all at once on the CPU.
        at_once=_parallel(cfg, reporter, jobs + 2),
        room=lambda: scheduler(cfg, slots=jobs + 2, limit=jobs + 2).capacity,
    )


def upstream_walk(cfg: Config, bw: BisectWorld, wrapper_ref: str | None = None) -> Sides:
    """Wrapper mode: a walk of upstream's commits with the wrapper pinned at `wrapper_ref`
    (default wrapper.ref), resolved once."""
    wrapper, configured = bw.world.wrapper, cfg.wrapper
    assert wrapper is not None and configured is not None  # wrapper_for makes it whenever cfg.wrapper is set
    return Sides(side="upstream", fixed=wrapper.resolve(wrapper_ref or configured.ref).sha)


def write_impact(report: DiffReport, folder: Path) -> None:
    """`diff --out` and watch's culprit report: impact.md and impact.json in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "impact.md").write_text(markdown(report))
    (folder / "impact.json").write_text(to_json(dataclasses.asdict(report)))


def make_mover(cfg: Config) -> tuple[Mover, Engine]:
    """What moves production, and its engine client (gc's and the deployer's too)."""
    run_store = store(cfg)
    docker = owned_engine(cfg, run_store)
    mover = Mover(
        store=run_store,
        builder=docker.images,
        upstream=lambda: upstream_for(cfg),
        repo=cfg.repo,
        suite_hash=cfg.suite.digest(),
        contract_hash=contract_hash(cfg),
        requires_level=cfg.promote_level,
        wrapper_mode=cfg.wrapper is not None,
        lock_path=cfg.state_dir / "production.lock",
        lock_wait_s=float(cfg.deploy.lock_wait_s),
        user=os.environ.get("HARNESS_USER") or getpass.getuser(),
        now=now,
    )
    return mover, docker


def deployer(cfg: Config, docker: Engine, reporter: Reporter) -> Deploys:
    """The compose service of `deploy:`; its bind-mount sources are created (as compose would).
    On a fleet: the same service as the Swarm service fleet.service, rolled by digest."""
    env = dict(os.environ)
    if cfg.model_cache is not None:
        env["HARNESS_MODEL_CACHE"] = str(cfg.model_cache)
    spec = load_service(cfg.deploy.compose_file, cfg.deploy.service, env)
    for mount in spec.mounts:
        Path(mount.source).mkdir(parents=True, exist_ok=True)
    if cfg.fleet is not None:
        return fleet_deployer(cfg, cfg.fleet, docker, spec, reporter)
    return Deployer(
        engine=docker.services,
        spec=spec,
        project=cfg.deploy.project,
        timeout_s=float(cfg.deploy.health_timeout_s),
        reporter=reporter,
    )


def fleet_deployer(
    cfg: Config, fleet: FleetConfig, docker: Engine, spec: ServiceSpec, reporter: Reporter
) -> FleetDeployer:
    """Production as the Swarm service: each release's image pushed, rolled out by digest."""

    def publish(release: Release) -> str:
        tag = f"release-{release.revision}"
        digest = push(docker.connection, release.image_id, registry=fleet.registry, repo=cfg.repo, tag=tag)
        return digest_ref(fleet.node_registry, cfg.repo, digest)

    return FleetDeployer(
        service=SwarmService(conn=fleet_manager(cfg, {}), fleet=fleet),
        spec=spec,
        name=fleet.service,
        publish=publish,
        timeout_s=float(cfg.deploy.health_timeout_s),
        reporter=reporter,
    )


def fleet_service(cfg: Config) -> SwarmService | None:
    """Production's Swarm service on the fleet (fleet.service), read by reconcile; None without a fleet."""
    return SwarmService(conn=fleet_manager(cfg, {}), fleet=cfg.fleet) if cfg.fleet is not None else None


def contract_for(cfg: Config) -> Contract:
    """The configured contract file (the bundled one by default), or with `contract: derived`
    the contract derived from the wrapper at its configured ref."""
    derived = derived_contract(cfg)
    return derived.contract if derived is not None else load_contract(cfg.contract or DEFAULT_CONTRACT)


def _cycle_upstreams(cfg: Config) -> Callable[[], GitUpstream]:
    """Upstream for each watch cycle: a new fetch session, so each cycle fetches again (a
    command's session fetches once), shared by the cycle's runs; the last cycle's client closed."""
    made: list[GitUpstream] = []

    def for_this_cycle() -> GitUpstream:
        while made:
            made.pop().close()
        with _FETCHES:
            state.fetches = FetchSession(offline=state.offline)
        made.append(upstream_for(cfg))
        return made[-1]

    return for_this_cycle


def _watch_test(cfg: Config, reporter: Reporter, run_store: Store) -> Callable[[str, Level], RunRecord]:
    def test(sha: str, level: Level) -> RunRecord:
        plan = load_plan(cfg, ref=sha, level=level, derived=derived_contract(cfg))
        return build_and_test(plan, make_world(cfg, reporter, run_store)).record

    return test


def _watch_key(cfg: Config, level: Level, **only: str) -> RunKey:
    return RunKey(
        suite_hash=cfg.suite.digest(),
        contract_hash=contract_hash(cfg),
        level=level,
        wrapper_mode=cfg.wrapper is not None,
        commit=only.get("commit"),
        image_id=only.get("image_id"),
    )


def _watch_recorded(cfg: Config, run_store: Store) -> Callable[[str, Level], RunRecord | None]:
    def recorded(sha: str, level: Level) -> RunRecord | None:
        key = _watch_key(cfg, level, commit=sha)
        found = [r for r in run_store.runs_for_commit(sha) if r.vouches_for(key) and r.verdict in JUDGING]
        return max(found, key=lambda r: r.started, default=None)

    return recorded


def _watch_baselines(cfg: Config, run_store: Store) -> Callable[[str], list[RunRecord]]:
    def baselines(image_id: str) -> list[RunRecord]:
        key = _watch_key(cfg, "baseline", image_id=image_id)
        found = [r for r in run_store.runs_for_image(image_id) if r.vouches_for(key)]
        return sorted(found, key=lambda r: r.started, reverse=True)

    return baselines


def _watch_bisect(cfg: Config, reporter: Reporter) -> Callable[[Bisecting], BisectOutcome]:
    def bisect(b: Bisecting) -> BisectOutcome:
        bw = bisect_world(cfg, reporter, jobs=1)
        sides = upstream_walk(cfg, bw) if cfg.wrapper is not None else UPSTREAM_ONLY
        plan = load_plan(cfg, ref=b.bad, level=b.level, derived=derived_contract(cfg, ref=sides.fixed or None))
        try:
            report = run_bisect(
                plan, bw, good_ref=b.good, bad_ref=b.bad, policy="fail", session_id=b.session, sides=sides
            )
        except BisectError as exc:
            return BisectOutcome(first_bad=None, summary=f"no commit named: {exc}")
        first = report.answer.first_bad
        subject = report.culprit.commit.message.splitlines()[0] if report.culprit else ""
        return BisectOutcome(first_bad=first, summary=subject if first else "no commit named (every probe skipped)")

    return bisect


def impact_folder(cfg: Config, culprit: str) -> Path:
    """Where a culprit's impact report lives (watch writes it; the HTML report reads it)."""
    return cfg.state_dir / "watch" / f"impact-{culprit[:12]}"


def culprit_impact(cfg: Config, upstream: GitUpstream, culprit: str) -> Path:
    """The impact report of `culprit` against its parent, written to its folder."""
    models = tuple(c.model for c in cfg.suite.cases)
    parent = upstream.parent(culprit) or culprit
    report = diff(
        upstream,
        parent,
        culprit,
        contract_for(cfg),
        overlays=cfg.suite.overlays,
        suite_models=models,
        series=series_for(cfg.wrapper),
    )
    folder = impact_folder(cfg, culprit)
    write_impact(report, folder)
    return folder


def _watch_impact(cfg: Config) -> Callable[[str], str]:
    return lambda culprit: str(culprit_impact(cfg, upstream_for(cfg), culprit))


def _watch_promote(cfg: Config, reporter: Reporter) -> Callable[[str], Promotion]:
    def promote_image(image_id: str) -> Promotion:
        mover, docker = make_mover(cfg)
        reason = "harness watch: auto promotion after its soak"
        if not cfg.watch.deploy:
            return Promotion(release=promote(mover, image_id, reason=reason, force=False), rolled_back="")
        try:
            release, _ = promote_and_deploy(
                mover, deployer(cfg, docker, reporter), image_id, reason=reason, force=False
            )
        except DeployFailed as exc:
            back = mover.store.production()
            assert back is not None  # the promotion and its rollback are both recorded
            return Promotion(release=back, rolled_back=str(exc))
        return Promotion(release=release, rolled_back="")

    return promote_image


def _watch_retention(cfg: Config, run_store: Store) -> Callable[[], str]:
    def retention() -> str:
        docker = owned_engine(cfg, run_store)
        plan, problems = gc(
            docker.inventory,
            run_store,
            repo=cfg.repo,
            keep=cfg.watch.gc_keep,
            dry_run=False,
            state_dir=cfg.state_dir,
            runs_dir=cfg.runs_dir,
        )
        gone = len(plan.remove_images) + len(plan.remove_run_dirs) + len(plan.remove_containers)
        now = datetime.datetime.now(datetime.UTC)
        pruned = prune_videos(run_store, now=now, keep_days=cfg.watch.keep_days, runs_root=cfg.runs_dir)
        said = f"gc removed {gone} item(s); {pruned.removed} old video(s) removed ({pruned.freed_bytes} bytes)"
        return said + (
            f"; not removed: {'; '.join(problems + list(pruned.failed))}" if problems or pruned.failed else ""
        )

    return retention


def _watch_reasons(cfg: Config) -> Callable[[RunRecord], tuple[str, ...]]:
    """Why production's baseline fails on this host: driver, VRAM, weights, disk, its cases."""

    def reasons(record: RunRecord) -> tuple[str, ...]:
        cache = cfg.model_cache
        return host_reasons(
            record=record,
            gpu=gpu(),
            needs_gpu=cfg.suite.requires_gpu and cfg.gpu != "none",
            min_free_gib=cfg.suite.min_free_gpu_gib,
            model_cache=cache,
            wanted_weights=suite_weights(cfg, upstream_for(cfg), record.commit),
            disk=disk_free,
            paths=(cfg.state_dir, *([cache] if cache else [])),
        )

    return reasons


def _watch_deliver(cfg: Config, run_store: Store, reporter: Reporter) -> Callable[[], None]:
    """The outbox to the configured receivers; what failed is said, never raised."""
    receivers, notify = notifiers_for(cfg.notify, os.environ), cfg.notify

    def deliver_events() -> None:
        report = deliver(
            run_store,
            receivers,
            state=run_store.state_id(),
            sleep=time.sleep,
            retries=notify.retries,
            backoff_s=notify.backoff_s,
            give_up_after=notify.give_up_after,
        )
        for receiver, error in report.failed:
            reporter.step(f"notify: {receiver} did not take the event(s): {error}")
        if report.given_up:
            reporter.step(f"notify: gave up on {len(report.given_up)} event(s) after {notify.give_up_after} deliveries")

    return deliver_events


def _reconciled(mover: Mover, reporter: Reporter) -> None:
    for line in reconcile(mover):
        reporter.step(f"reconcile: {line}")


def watch_world(cfg: Config, reporter: Reporter, metrics: Metrics) -> WatchWorld:
    """The real adapters and use cases behind `harness watch`."""
    run_store = store(cfg)
    mover, _ = make_mover(cfg)
    return WatchWorld(
        config=cfg.watch,
        upstream=_cycle_upstreams(cfg),
        store=run_store,
        test=_watch_test(cfg, reporter, run_store),
        recorded=_watch_recorded(cfg, run_store),
        bisect=_watch_bisect(cfg, reporter),
        impact=_watch_impact(cfg),
        baselines=_watch_baselines(cfg, run_store),
        promote=_watch_promote(cfg, reporter),
        reconcile=lambda: _reconciled(mover, reporter),
        reasons=_watch_reasons(cfg),
        retention=_watch_retention(cfg, run_store),
        deliver=_watch_deliver(cfg, run_store, reporter),
        report=_watch_report(cfg, reporter, run_store),
        metrics=metrics,
        clock=lambda: datetime.datetime.now(datetime.UTC),
        reporter=reporter,
    )


def watch_view(cfg: Config) -> WatchView:
    """The watcher of this state as `status` shows it (its lock says whether one runs)."""
    now = datetime.datetime.now(datetime.UTC)
    return view(store(cfg), cfg.watch, now, holder(cfg.state_dir / "watch.lock"))


@contextlib.contextmanager
def metrics_endpoint(addr: MetricsAddr | None) -> Iterator[Metrics]:
    """Prometheus metrics served at `addr` while the block runs, or the no-op sink (None)."""
    if addr is None:
        yield NullMetrics()
        return
    with serve_metrics(addr) as server:
        yield server.metrics


def _report_images(run_store: Store) -> Callable[[list[str]], dict[str, ImageFacts]]:
    def images(ids: list[str]) -> dict[str, ImageFacts]:
        docker = engine()
        try:
            listed = docker.inventory.summaries(f"{STATE_LABEL}={run_store.state_id()}")
        except InfraError as exc:  # the site is made without the engine: pages say it was not asked
            return image_facts(ids, None, str(exc))
        finally:
            docker.connection.close()
        return image_facts(ids, listed)

    return images


def _report_impact(cfg: Config, upstream: GitUpstream | None) -> Callable[[str], Impact]:
    """A culprit's impact report: the one watch wrote, else made now (and kept for next time)."""

    def impact(culprit: str) -> Impact:
        folder = impact_folder(cfg, culprit)
        if not (folder / "impact.json").is_file():
            if upstream is None:
                return Impact(error="no upstream mirror to read the culprit from")
            try:
                culprit_impact(cfg, upstream, culprit)
            except (HarnessError, ValueError, OSError) as exc:
                return Impact(error=str(exc))
        try:
            doc = json.loads((folder / "impact.json").read_text())
            return Impact(doc=doc if isinstance(doc, dict) else {}, markdown=(folder / "impact.md").read_text())
        except (OSError, ValueError) as exc:
            return Impact(error=f"{folder}: unreadable: {exc}")

    return impact


def _report_work(cfg: Config, run_store: Store) -> Callable[[], tuple[str, ...]]:
    def work() -> tuple[str, ...]:
        recorded = {r.run_id for r in run_store.runs(100)}  # a run in progress is newer than these
        running = list(in_progress(cfg.runs_dir, recorded))
        return work_lines(WatchState.from_doc(run_store.watch_state()), running)

    return work


@contextlib.contextmanager
def report_world(cfg: Config, reporter: Reporter, out: Path, run_store: Store | None = None) -> Iterator[ReportWorld]:
    """The report's sources: the store, the upstream mirror as it is (never fetched: the report
    shows what harness knows), the engine's image list, the runs' media; the site folder. What
    it opens it closes (watch regenerates the report after each event, for days)."""
    own_store = run_store is None
    run_store = run_store or store(cfg)
    log = BisectLog(run_store)
    has_mirror = (cfg.mirror_dir / "HEAD").exists()
    upstream = GitUpstream(cfg.upstream_url, cfg.mirror_dir, FetchSession(offline=True)) if has_mirror else None
    try:
        yield ReportWorld(
            title=cfg.repo,
            ref=cfg.watch.ref,
            store=run_store,
            bisects=lambda: [(s, log.steps(s.id)) for s in log.sessions()],
            timeline=lambda: upstream.first_parent_log(cfg.watch.ref, cfg.report_commits) if upstream else [],
            commit=lambda sha: upstream.known_commit(sha) if upstream else None,
            images=_report_images(run_store),
            impact=_report_impact(cfg, upstream),
            work=_report_work(cfg, run_store),
            media=VideoMedia(),
            site=SiteFolder(out),
            reporter=reporter,
        )
    finally:
        if upstream is not None:
            upstream.close()
        if own_store:
            run_store.close()


def _watch_report(cfg: Config, reporter: Reporter, run_store: Store) -> Callable[[], str]:
    def regenerate() -> str:
        with report_world(cfg, reporter, cfg.report_dir, run_store) as ports:
            done = report(ports)
        return f"report: {done.written} file(s) written, {done.removed} removed ({cfg.report_dir})"

    return regenerate


def site_server(folder: Path, addr: MetricsAddr) -> http.server.ThreadingHTTPServer:
    return serve_site(str(folder), addr)

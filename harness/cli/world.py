"""Wiring: the only place the commands' adapters (engine, git, GPU, video, store) are made.

Each function hands a command the ports one use case needs; the command modules call these
and never construct an adapter themselves. Tests that need other wiring (the crash tests'
fault points) patch this module.
"""

from __future__ import annotations

import datetime
import functools
import getpass
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from harness.adapters.engine import Engine, connect
from harness.adapters.git_repo import FetchSession, GitCheckout, GitUpstream
from harness.adapters.gpu import HostGpuProbe
from harness.adapters.video import probe_video, read_frames, write_sample_clip
from harness.bisect_log import BisectLog
from harness.cli.app import state
from harness.compose import load_service
from harness.config import Config, default_config, load_config
from harness.derive import DerivedContract
from harness.errors import UsageError
from harness.model import RunRecord
from harness.naming import owner_labels
from harness.ops.build_and_test import World
from harness.ops.deploy import Deployer
from harness.ops.derive import derive_contract
from harness.ops.gc import session_id
from harness.ops.parallel import Reap, reap_session, records, run_many, scheduler_for
from harness.ops.probe import BisectWorld
from harness.ops.promote import Mover
from harness.plan import Plan, contract_digest
from harness.ports import Reporter
from harness.scheduler import GpuScheduler
from harness.statedir import WRAPPER_MIRRORS
from harness.store import Store

_FETCHES = threading.Lock()  # parallel runs make their upstream clients in worker threads


def config() -> Config:
    return load_config(state.config)


def config_or_defaults() -> Config:
    """For diagnostics: the config, or the defaults when none was given and none is here."""
    if state.config_given or state.config.exists():
        return load_config(state.config)
    return default_config(Path.cwd())


def store(cfg: Config) -> Store:
    return store_file(cfg.state_dir / "state.db")


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
    return World(
        upstream=upstream_for(cfg),
        builder=docker.images,
        runner=docker.containers,
        gpu=gpu(),
        probe=probe_video,
        frames=read_frames,
        sample_clip=functools.partial(write_sample_clip, width=496, height=496, frames=81, seed=12345),
        store=run_store,
        reporter=reporter,
        clock=lambda: datetime.datetime.now(datetime.UTC),
        session=session_id(),
        wrapper=wrapper_for(cfg),
    )


def scheduler(cfg: Config, *, slots: int, limit: int | None = None) -> GpuScheduler:
    """Hands out the host's GPUs to parallel runs, one each (or `slots` at once without GPUs)."""
    return scheduler_for(cfg.gpus, gpu(), slots=slots, limit=limit)


def reaper() -> Reap:
    """Removes the containers of this process's session (on an interrupt of parallel runs)."""
    return functools.partial(reap_session, engine().inventory, session_id())


def _parallel(cfg: Config, reporter: Reporter, jobs: int) -> Callable[[Plan, list[str]], dict[str, RunRecord]]:
    """Probes of one bisect round at once, one GPU each (or `jobs` at a time on a CPU host)."""

    def run(plan: Plan, shas: list[str]) -> dict[str, RunRecord]:
        many = run_many(
            plan,
            shas,
            make_world=lambda: make_world(cfg, reporter),
            scheduler=scheduler(cfg, slots=jobs, limit=jobs),
            reap=reaper(),
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
    )


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


def deployer(cfg: Config, docker: Engine, reporter: Reporter) -> Deployer:
    """The compose service of `deploy:`; its bind-mount sources are created (as compose would)."""
    env = dict(os.environ)
    if cfg.model_cache is not None:
        env["HARNESS_MODEL_CACHE"] = str(cfg.model_cache)
    spec = load_service(cfg.deploy.compose_file, cfg.deploy.service, env)
    for mount in spec.mounts:
        Path(mount.source).mkdir(parents=True, exist_ok=True)
    return Deployer(
        engine=docker.services,
        spec=spec,
        project=cfg.deploy.project,
        timeout_s=float(cfg.deploy.health_timeout_s),
        reporter=reporter,
    )

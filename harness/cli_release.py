"""Production commands: promote, rollback, reconcile, status, releases, gc, pin.

Registered on the app of `harness.cli`, whose one error boundary turns errors into exit codes.
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.adapters.engine import Engine, connect
from harness.cli import JsonOpt, app, err, out, state, upstream_for
from harness.config import Config, load_config
from harness.model import Release
from harness.naming import LAST_GOOD, owner_labels
from harness.ops.deploy import Deployer
from harness.ops.promote import Mover, promote, reconcile, rollback
from harness.report import record_dict, to_json
from harness.store import Store

ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the release history)")]
DeployOpt = Annotated[bool, typer.Option("--deploy", help="recreate the compose service and wait for its health check")]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _fault(point: str) -> None:
    # Fault injection for the crash tests: HARNESS_FAULT=<point> parks the process there.
    if os.environ.get("HARNESS_FAULT") == point:
        print(f"harness: fault point {point} reached", file=sys.stderr, flush=True)
        time.sleep(3600)


def _setup() -> tuple[Config, Mover, Engine]:
    from harness.ops.check import contract_digest

    cfg = load_config(state["config"])
    store = Store(cfg.state_dir / "state.db")
    engine = connect(os.environ, owner=owner_labels(store.state_id(), cfg.state_dir))
    mover = Mover(
        store=store,
        builder=engine.images,
        upstream=lambda: upstream_for(cfg),
        repo=cfg.repo,
        suite_hash=cfg.suite.digest(),
        contract_hash=contract_digest(cfg.contract),
        requires_level=cfg.promote_level,
        lock_path=cfg.state_dir / "production.lock",
        lock_wait_s=float(cfg.deploy.lock_wait_s),
        user=os.environ.get("HARNESS_USER") or getpass.getuser(),
        now=_now,
        fault=_fault,
    )
    return cfg, mover, engine


def _deployer(cfg: Config, engine: Engine) -> Deployer:
    from harness.compose import load_service

    env = dict(os.environ)
    if cfg.model_cache is not None:
        env["HARNESS_MODEL_CACHE"] = str(cfg.model_cache)
    spec = load_service(cfg.deploy.compose_file, cfg.deploy.service, env)
    for mount in spec.mounts:
        Path(mount.source).mkdir(parents=True, exist_ok=True)
    return Deployer(
        engine=engine.services,
        spec=spec,
        project=cfg.deploy.project,
        timeout_s=float(cfg.deploy.health_timeout_s),
        reporter=_Steps(),
    )


class _Steps:
    def step(self, text: str) -> None:
        err.print(f"[cyan]==>[/] {escape(text)}", highlight=False)

    def line(self, text: str) -> None:
        pass


def _release_line(r: Release) -> str:
    return escape(
        f"revision {r.revision} ({r.action}): image {r.image_id[7:19]} commit {r.commit[:12]} by {r.user}: {r.reason}"
    )


@app.command("promote")
def promote_cmd(
    target: Annotated[str, typer.Argument(help="upstream ref, run id, or image (name or id)")],
    reason: ReasonOpt = "",
    force: Annotated[bool, typer.Option("--force", help="promote without a PASS record (needs --reason)")] = False,
    deploy: DeployOpt = False,
) -> None:
    """Make an image production: only with a PASS record of the current suite and contract at
    promote.requires_level (default baseline) or deeper."""
    cfg, mover, engine = _setup()
    if deploy:
        from harness.ops.deploy import promote_and_deploy

        release, detail = promote_and_deploy(mover, _deployer(cfg, engine), target, reason=reason, force=force)
        out.print(f"production -> {_release_line(release)}\n{escape(detail)}")
        return
    release = promote(mover, target, reason=reason, force=force)
    out.print(f"production -> {_release_line(release)}", highlight=False)


@app.command("rollback")
def rollback_cmd(
    to: Annotated[int | None, typer.Option("--to", help="revision to restore (default: the previous one)")] = None,
    reason: ReasonOpt = "",
    force: Annotated[
        bool, typer.Option("--force", help="with --to: restore a release known to be bad (needs --reason)")
    ] = False,
    deploy: DeployOpt = False,
) -> None:
    """Move production back to an earlier release's image, as a new revision; releases known
    to be bad (auto-rolled-back, or no PASS at promote.requires_level) are passed over."""
    cfg, mover, engine = _setup()
    rolled = rollback(mover, to=to, reason=reason, force=force)
    release = rolled.release
    for revision, why in rolled.skipped:
        out.print(f"skipped revision {revision}: {escape(why)}", highlight=False)
    out.print(f"production -> {_release_line(release)}", highlight=False)
    if deploy:
        from harness.errors import DeployFailed
        from harness.ops.deploy import deploy as deploy_release

        report = deploy_release(_deployer(cfg, engine), release)
        if not report.healthy:
            raise DeployFailed(f"service not healthy on revision {release.revision}: {report.detail}")
        out.print(f"service healthy: {escape(report.detail)}")


@app.command("reconcile")
def reconcile_cmd() -> None:
    """Repair tags left behind by an interrupted move (the store is the truth); fetch upstream
    and mark recorded commits it no longer has (force-pushed away): their runs are kept."""
    _, mover, _ = _setup()
    repaired = reconcile(mover)
    out.print(escape("\n".join(repaired)) or "consistent: tags match the store")
    upstream = mover.upstream()
    upstream.fetch()  # a no-op with --offline: reachability is then the mirror's, as last fetched
    if getattr(state.get("upstream_session"), "offline", False):
        out.print("--offline: upstream not fetched; reachability below is as of the last fetch")
    gone = sorted(sha for sha in mover.store.commits() if not upstream.reachable(sha))
    for sha in mover.store.commits():
        mover.store.mark_reachability(sha, sha not in gone, _now())
    if gone:
        out.print(
            f"{len(gone)} recorded commits are no longer upstream (runs kept, marked unreachable): "
            + ", ".join(s[:12] for s in gone)
        )


@app.command("releases")
def releases_cmd(json_out: JsonOpt = False) -> None:
    """Production history: revision, commit, image id, when, who, why."""
    _, mover, _ = _setup()
    reconcile(mover)
    releases = mover.store.releases()
    if json_out:
        out.print_json(to_json([dataclasses.asdict(r) for r in releases]))
        return
    table = Table(title="production releases")
    for column in ("rev", "action", "commit", "image", "when", "who", "why"):
        table.add_column(column, overflow="fold")
    for r in releases:
        row = (str(r.revision), r.action, r.commit[:12], r.image_id[7:19], r.created, r.user, r.reason)
        table.add_row(*map(escape, row))
    out.print(table)


@app.command("status")
def status_cmd(json_out: JsonOpt = False) -> None:
    """Production, last-good, upstream head and the last runs."""
    from harness.errors import HarnessError

    cfg, mover, _ = _setup()
    repaired = reconcile(mover)
    production = mover.store.production()
    last_good = mover.store.pointer(LAST_GOOD)
    try:
        client = mover.upstream()
        head = client.resolve("HEAD")
        resolution = client.resolution("HEAD")
        upstream: dict[str, object] = dataclasses.asdict(head) | {
            "resolution": dataclasses.asdict(resolution) | {"line": resolution.line()} if resolution else None
        }
    except HarnessError as exc:
        upstream = {"error": str(exc)}
    doc = {
        "production": dataclasses.asdict(production) if production else None,
        "last_good": dataclasses.asdict(last_good) if last_good else None,
        "upstream_head": upstream,
        "runs": [record_dict(r) for r in mover.store.runs(5)],
        "repaired": repaired,
        "repo": cfg.repo,
    }
    if json_out:
        out.print_json(to_json(doc))
        return
    out.print(f"production: {_release_line(production) if production else 'none'}")
    out.print(f"last-good:  {last_good.commit[:12] + ' image ' + last_good.image_id[7:19] if last_good else 'none'}")
    if "error" in upstream:
        out.print(f"upstream:   {escape(str(upstream['error']))}", highlight=False)
    else:
        where = resolution.line() if resolution else f"HEAD -> {head.short}"
        out.print(f"upstream:   {escape(where)}: {escape(head.subject)!s:.70}", highlight=False)
    for r in mover.store.runs(5):
        out.print(escape(f"  {r.run_id} {r.commit[:12]} {r.verdict.value:5} {r.summary}"))


@app.command("gc")
def gc_cmd(
    keep: Annotated[int, typer.Option("--keep", min=1, max=10000, help="newest commit images/releases kept")] = 5,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, remove nothing")] = False,
) -> None:
    """Remove this state's commit images, run folders and leftover containers beyond the retention
    policy; images and containers of other harness states on the engine are never looked at."""
    from rich.markup import escape

    from harness.ops.gc import gc

    cfg, mover, engine = _setup()
    reconcile(mover)
    plan, problems = gc(
        engine.inventory, mover.store, repo=cfg.repo, keep=keep, dry_run=dry_run, state_dir=cfg.state_dir
    )
    verb = "would remove" if dry_run else "removed"
    lines = [f"state {mover.store.state_id()} ({cfg.state_dir}): only its own images and containers"]
    names = {i.id: f"image {', '.join(i.tags)}" if i.tags else "untagged image" for i, _ in plan.keep_images}
    names |= {i.id: f"image {', '.join(i.tags)}" if i.tags else "untagged image" for i in plan.remove_images}
    lines += [f"{verb} {names[i.id]} ({i.id[7:19]})" for i in plan.remove_images]
    lines += [f"{verb} run folder {run_dir}" for run_dir in plan.remove_run_dirs]
    lines += [f"{verb} leftover container {c.name} ({c.status})" for c in plan.remove_containers]
    lines += [f"{verb} build-step container {c.id[:12]} ({c.status})" for c in plan.remove_step_containers]
    lines += [f"{verb} build-stage image {image_id[7:19]}" for image_id in plan.remove_dangling]
    lines += [f"kept {names[i.id]} ({i.id[7:19]}): {why}" for i, why in plan.keep_images]
    lines += [f"kept build-step container {c.id[:12]} ({c.status}): {why}" for c, why in plan.keep_step_containers]
    lines += [f"kept untagged build-stage images: {plan.busy}"] if plan.busy else []
    for line in lines:
        out.print(escape(line), highlight=False)
    for problem in problems:
        err.print(f"not removed: {escape(problem)}", highlight=False)


@app.command("pin")
def pin_cmd(
    repo_dir: Annotated[
        Path | None, typer.Option("--repo", help="top folder of the checkout holding the Wan2GP gitlink (required)")
    ] = None,
    submodule: Annotated[str, typer.Option(help="gitlink path")] = "Wan2GP",
) -> None:
    """Stage the Wan2GP gitlink at the production commit and STRUCTURE.md in --repo (index only)."""
    from harness.ops.pin import pin

    _, mover, _ = _setup()
    sha, command = pin(mover.store, repo_dir, submodule=submodule, now=_now())
    out.print(escape(f"{submodule} -> {sha}, staged with STRUCTURE.md; commit what is staged:\n  {command}"))

"""Production commands: promote, rollback, reconcile, status, releases, gc, pin."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

import harness.cli.world as world
from harness.cli.app import JsonOpt, app, err, out, state
from harness.context import KEY_LABEL
from harness.errors import UsageError
from harness.model import Release
from harness.ops.deploy import promote_and_deploy, rollback_and_deploy
from harness.ops.gc import gc
from harness.ops.pin import pin
from harness.ops.promote import RolledBack, promote, reconcile, rollback
from harness.ops.reconcile import check_fleet, reconcile_all
from harness.ops.status import Status, releases, status
from harness.ops.watch import WatchView
from harness.report import ConsoleReporter, record_dict, to_json
from harness.retention import GcPlan
from harness.services import ImageInfo

ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the release history)")]
DeployOpt = Annotated[bool, typer.Option("--deploy", help="recreate the compose service and wait for its health check")]


def _release_line(r: Release) -> str:
    digest = f" digest {r.image_digest[7:19]}" if r.image_digest else ""
    return escape(
        f"revision {r.revision} ({r.action}): image {r.image_id[7:19]}{digest} commit {r.commit[:12]} "
        f"by {r.user}: {r.reason}"
    )


def _steps() -> ConsoleReporter:
    """The deploy's steps on stderr (stdout keeps the result lines)."""
    return ConsoleReporter(err, False)


@app.command("promote")
def promote_cmd(
    target: Annotated[str, typer.Argument(help="upstream ref, run id, or image (name or id)")],
    reason: ReasonOpt = "",
    force: Annotated[bool, typer.Option("--force", help="promote without a PASS record (needs --reason)")] = False,
    deploy: DeployOpt = False,
) -> None:
    """Make an image production: only with a PASS record of the current suite and contract at
    promote.requires_level (default baseline) or deeper."""
    cfg = world.config()
    mover, engine = world.make_mover(cfg)
    if deploy:
        deployer = world.deployer(cfg, engine, _steps())
        release, detail = promote_and_deploy(mover, deployer, target, reason=reason, force=force)
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
    cfg = world.config()
    mover, engine = world.make_mover(cfg)
    if not deploy:
        _print_rolled_back(rollback(mover, to=to, reason=reason, force=force))
        return
    deployer = world.deployer(cfg, engine, _steps())
    report = rollback_and_deploy(mover, deployer, to=to, reason=reason, force=force, moved=_print_rolled_back)
    out.print(f"service healthy: {escape(report.detail)}")


def _print_rolled_back(rolled: RolledBack) -> None:
    for revision, why in rolled.skipped:
        out.print(f"skipped revision {revision}: {escape(why)}", highlight=False)
    out.print(f"production -> {_release_line(rolled.release)}", highlight=False)


@app.command("reconcile")
def reconcile_cmd(
    deploy: Annotated[
        bool, typer.Option("--deploy", help="on a fleet: roll a service out of line to production's digest")
    ] = False,
) -> None:
    """Repair tags left behind by an interrupted move (the store is the truth); fetch upstream
    and mark recorded commits it no longer has (force-pushed away): their runs are kept. On a
    fleet, check that the service runs production's digest: exit 125 when it does not, unless
    --deploy rolls it there."""
    cfg = world.config()
    service = world.fleet_service(cfg)
    if deploy and service is None:
        raise UsageError("reconcile --deploy rolls a fleet's service (fleet:); locally use promote/rollback --deploy")
    mover, engine = world.make_mover(cfg)
    gone = reconcile_all(mover, repaired=_print_repaired)
    if state.offline:
        out.print("--offline: upstream not fetched; reachability below is as of the last fetch")
    if gone:
        out.print(
            f"{len(gone)} recorded commits are no longer upstream (runs kept, marked unreachable): "
            + ", ".join(s[:12] for s in gone)
        )
    if cfg.fleet is not None and service is not None:  # last: its exit 125 leaves the rest done and said
        deployer = world.deployer(cfg, engine, _steps()) if deploy else None
        out.print(escape(check_fleet(mover, service, cfg.fleet.service, deployer=deployer)), highlight=False)


def _print_repaired(repaired: list[str]) -> None:
    out.print(escape("\n".join(repaired)) or "consistent: tags match the store")


@app.command("releases")
def releases_cmd(json_out: JsonOpt = False) -> None:
    """Production history: revision, commit, image id, when, who, why."""
    mover, _ = world.make_mover(world.config())
    history = releases(mover)
    if json_out:
        out.print_json(to_json([dataclasses.asdict(r) for r in history]))
        return
    out.print(releases_table(history))


def releases_table(history: list[Release]) -> Table:
    """The history as a table; a digest column once a release has one (deployed to a fleet)."""
    fleet = any(r.image_digest for r in history)
    table = Table(title="production releases")
    for column in ("rev", "action", "commit", "image", *(("digest",) if fleet else ()), "when", "who", "why"):
        table.add_column(column, overflow="fold")
    for r in history:
        digest = (r.image_digest[7:19] or "-",) if fleet else ()
        row = (str(r.revision), r.action, r.commit[:12], r.image_id[7:19], *digest, r.created, r.user, r.reason)
        table.add_row(*map(escape, row))
    return table


@app.command("status")
def status_cmd(json_out: JsonOpt = False) -> None:
    """Production, last-good, upstream head and the last runs."""
    cfg = world.config()
    mover, _ = world.make_mover(cfg)
    now = status(mover)
    watcher = world.watch_view(cfg)
    if json_out:
        out.print_json(to_json(_status_doc(now, cfg.repo) | {"watch": _watch_doc(watcher)}))
    else:
        _print_status(now)
        _print_watch(watcher)


def _watch_doc(w: WatchView) -> dict[str, object]:
    return {
        "running": w.running,
        "heartbeat": w.heartbeat,
        "state": w.state.to_doc(),
        "pending_events": w.pending_events,
        "next": list(w.next),
    }


def _print_watch(w: WatchView) -> None:
    beat = w.heartbeat
    if w.running is None and not beat:
        out.print("watch:      not running (never ran on this state)")
        return
    alive = f"running ({w.running})" if w.running else "not running"
    last = f"; last heartbeat {beat.get('at', '?')}: {beat.get('doing', '?')}" if beat else ""
    out.print(escape(f"watch:      {alive}{last}"), highlight=False)
    head = w.state.head[:12] or "none"
    out.print(escape(f"  head seen {head}, {len(w.state.queue)} queued, {w.pending_events} event(s) undelivered"))
    for line in w.next:
        out.print(escape(f"  next: {line}"), highlight=False)


def _status_doc(now: Status, repo: str) -> dict[str, object]:
    up = now.upstream
    upstream: dict[str, object] = {"error": up.error}
    if up.head is not None:
        resolution = dataclasses.asdict(up.resolution) | {"line": up.resolution.line()} if up.resolution else None
        upstream = dataclasses.asdict(up.head) | {"resolution": resolution}
    return {
        "production": dataclasses.asdict(now.production) if now.production else None,
        "last_good": dataclasses.asdict(now.last_good) if now.last_good else None,
        "upstream_head": upstream,
        "runs": [record_dict(r) for r in now.runs],
        "repaired": list(now.repaired),
        "repo": repo,
    }


def _print_status(now: Status) -> None:
    production, last_good, up = now.production, now.last_good, now.upstream
    out.print(f"production: {_release_line(production) if production else 'none'}")
    out.print(f"last-good:  {last_good.commit[:12] + ' image ' + last_good.image_id[7:19] if last_good else 'none'}")
    if up.head is None:
        out.print(f"upstream:   {escape(up.error)}", highlight=False)
    else:
        where = up.resolution.line() if up.resolution else f"HEAD -> {up.head.short}"
        out.print(f"upstream:   {escape(where)}: {escape(up.head.subject)!s:.70}", highlight=False)
    for r in now.runs:
        out.print(escape(f"  {r.run_id} {r.commit[:12]} {r.verdict.value:5} {r.summary}"))


@app.command("gc")
def gc_cmd(
    keep: Annotated[int, typer.Option("--keep", min=1, max=10000, help="newest commit images/releases kept")] = 5,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, remove nothing")] = False,
) -> None:
    """Remove this state's commit images, untagged deps images, run folders and leftover containers
    beyond the retention policy; images and containers of other harness states are never looked at."""
    cfg = world.config()
    mover, engine = world.make_mover(cfg)
    reconcile(mover)
    plan, problems = gc(
        engine.inventory,
        mover.store,
        repo=cfg.repo,
        keep=keep,
        dry_run=dry_run,
        state_dir=cfg.state_dir,
        runs_dir=cfg.runs_dir,
    )
    lines = [f"state {mover.store.state_id()} ({cfg.state_dir}): only its own images and containers"]
    for line in lines + _gc_lines(plan, "would remove" if dry_run else "removed"):
        out.print(escape(line), highlight=False)
    for problem in problems:
        err.print(f"not removed: {escape(problem)}", highlight=False)


def _gc_lines(plan: GcPlan, verb: str) -> list[str]:
    """What went (or would go), then what was kept and why."""
    names = {i.id: f"image {', '.join(i.tags)}" if i.tags else "untagged image" for i, _ in plan.keep_images}
    names |= {i.id: f"image {', '.join(i.tags)}" if i.tags else "untagged image" for i in plan.remove_images}
    lines = [f"{verb} {names[i.id]} ({i.id[7:19]})" for i in plan.remove_images]
    lines += [f"{verb} run folder {run_dir}" for run_dir in plan.remove_run_dirs]
    lines += [f"{verb} leftover container {c.name} ({c.status})" for c in plan.remove_containers]
    lines += [f"{verb} build-step container {c.id[:12]} ({c.status})" for c in plan.remove_step_containers]
    lines += [f"{verb} untagged deps image {_deps_name(i)}" for i in plan.remove_deps]
    lines += [f"{verb} build-stage image {image_id[7:19]}" for image_id in plan.remove_dangling]
    lines += [f"kept {names[i.id]} ({i.id[7:19]}): {why}" for i, why in plan.keep_images]
    lines += [f"kept untagged deps image {_deps_name(i)}: {why}" for i, why in plan.keep_deps]
    lines += [f"kept build-step container {c.id[:12]} ({c.status}): {why}" for c, why in plan.keep_step_containers]
    return lines + ([f"kept untagged build-stage images: {plan.busy}"] if plan.busy else [])


def _deps_name(image: ImageInfo) -> str:
    return f"({image.id[7:19]}, deps {image.labels.get(KEY_LABEL, '')[:12]})"


@app.command("pin")
def pin_cmd(
    repo_dir: Annotated[
        Path | None, typer.Option("--repo", help="top folder of the checkout holding the Wan2GP gitlink (required)")
    ] = None,
    submodule: Annotated[str, typer.Option(help="gitlink path")] = "Wan2GP",
) -> None:
    """Stage the Wan2GP gitlink at the production commit and STRUCTURE.md in --repo (index only)."""
    mover, _ = world.make_mover(world.config())
    sha, command = pin(mover.store, world.checkout(), repo_dir, submodule=submodule, now=mover.now())
    out.print(escape(f"{submodule} -> {sha}, staged with STRUCTURE.md; commit what is staged:\n  {command}"))

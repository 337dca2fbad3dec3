"""promote, rollback and reconcile: move production by retagging, recorded as releases.

Order of every move: take the lock, write the new release (the truth), then retag
`:production` (derived). A process killed in between leaves the store ahead of the tag;
`reconcile`, run at the start of every command, retags to what the store says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from harness.errors import LockBusy, PromotionRefused, UsageError
from harness.model import Level, Release, ReleaseAction, RunKey
from harness.naming import LAST_GOOD, PRODUCTION, check_ref, image_name
from harness.ops.isolation import check_repo
from harness.ports import ImageBuilder, StateStore, Upstream
from harness.promotion import refusal, rollback_target

_RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{1,6}\Z|[0-9]{8}-[0-9]{4,6}\Z")


@dataclass(frozen=True, kw_only=True)
class Mover:
    """What a production move touches, injected by the CLI or the tests."""

    store: StateStore
    builder: ImageBuilder
    upstream: Callable[[], Upstream]  # made on demand: only ref targets need git
    repo: str
    suite_hash: str
    contract_hash: str  # check.contract_digest of the configured contract
    requires_level: Level  # promote.requires_level: a PASS at this level or deeper
    wrapper_mode: bool = False  # a `wrapper:` section: only the wrapper's verdicts gate production
    lock_path: Path
    lock_wait_s: float
    user: str
    now: Callable[[], str]
    fault: Callable[[str], None] = lambda point: None  # fault injection points for tests


@dataclass(frozen=True, kw_only=True)
class Target:
    image_id: str
    commit: str
    run_id: str


@dataclass(frozen=True, kw_only=True)
class RolledBack:
    release: Release
    skipped: tuple[tuple[int, str], ...]  # releases passed over as known to be bad: (revision, why)


def gate_key(mover: Mover, commit: str, image_id: str | None = None) -> RunKey:
    """What a record must answer for to let an image be production: the current suite and
    contract, at `promote.requires_level` or deeper."""
    return RunKey(
        suite_hash=mover.suite_hash,
        contract_hash=mover.contract_hash,
        level=mover.requires_level,
        commit=commit or None,
        image_id=image_id,
        deeper=True,
        wrapper_mode=mover.wrapper_mode,
    )


def why_not(mover: Mover, image_id: str, commit: str) -> str | None:
    """Why the image may not be production now (`promotion.refusal` over the store's records)."""
    return refusal(image_id, mover.store.evidence(image_id, commit), gate_key(mover, commit, image_id))


def reconcile(mover: Mover) -> list[str]:
    """Make `:production` and `:last-good` match the store; return what was repaired or is wrong.

    An image the store names but the engine lost is reported, not fatal: rollback and
    promote are how it gets fixed, so they must still run. A repository that holds another
    harness state's images is refused before any tag moves (ops/isolation.py): its tags are
    that state's, not ours to repair.
    """
    check_repo(mover.builder, mover.repo, mover.store.state_id())
    notes = []
    production = mover.store.production()
    last_good = mover.store.pointer(LAST_GOOD)
    wanted = [
        (PRODUCTION, production.image_id if production else None),
        (LAST_GOOD, last_good.image_id if last_good else None),
    ]
    for tag, image_id in wanted:
        if image_id is None or mover.builder.image_id(f"{mover.repo}:{tag}") == image_id:
            continue
        if mover.builder.image_id(image_id) is None:
            notes.append(
                f"warning: the store's {tag} image {image_id[7:19]} is gone from the engine "
                "(move it with `harness rollback --to N` or `harness promote`)"
            )
            continue
        mover.builder.tag(image_id, mover.repo, tag)
        notes.append(f"repaired {mover.repo}:{tag} -> {image_id[7:19]}")
    return notes


def resolve_target(mover: Mover, spec: str) -> Target:
    """A run id, an image (name or id), or an upstream ref, as the image it designates."""
    if _RUN_ID.match(spec):
        record = mover.store.run(spec)
        if record is None:
            raise UsageError(f"no run {spec!r} (or the prefix matches several); see `harness history`")
        if not record.image_id:
            raise PromotionRefused(f"run {record.run_id} built no image: {record.summary}")
        return Target(image_id=record.image_id, commit=record.commit, run_id=record.run_id)
    if ":" in spec or spec.startswith("sha256"):
        image_id = mover.builder.image_id(spec)
        if image_id is None:
            raise PromotionRefused(f"image {spec!r} is not on this engine")
        runs = mover.store.runs_for_image(image_id)
        return Target(image_id=image_id, commit=runs[0].commit if runs else "", run_id=runs[0].run_id if runs else "")
    commit = mover.upstream().resolve(spec)
    runs = [r for r in mover.store.runs_for_commit(commit.sha) if r.image_id]
    key = gate_key(mover, commit.sha)
    current = [r for r in runs if r.vouches_for(key)] or runs  # else the gate says why not
    if not current:
        raise PromotionRefused(f"commit {commit.short} has no tested image: run `harness build-and-test {spec}` first")
    return Target(image_id=current[0].image_id, commit=commit.sha, run_id=current[0].run_id)


_LOCKS: dict[str, FileLock] = {}


@contextmanager
def locked(mover: Mover) -> Iterator[None]:
    """The production lock: one writer at a time, others wait `lock_wait_s` then fail clearly.

    One reentrant lock object per path in this process (two objects on one path would deadlock).
    """
    mover.lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = _LOCKS.setdefault(str(mover.lock_path), FileLock(str(mover.lock_path)))
    try:
        lock.acquire(timeout=mover.lock_wait_s)
    except Timeout as exc:
        raise LockBusy(
            f"another harness process is moving production (lock {mover.lock_path} held for "
            f"{mover.lock_wait_s:.0f} s); retry, or raise deploy.lock_wait_s"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _move(
    mover: Mover, *, action: ReleaseAction, target: Target, reason: str, forced: bool = False, based_on: int = 0
) -> Release:
    """Record the release (the truth), then retag `:production` (derived from it)."""
    release = Release(
        revision=0,
        action=action,
        image_id=target.image_id,
        commit=target.commit,
        from_image_id="",
        run_id=target.run_id,
        created=mover.now(),
        user=mover.user,
        reason=reason,
        forced=forced,
        based_on=based_on,
    )
    stored = mover.store.add_release(release)
    mover.fault("after-store-write")
    mover.builder.tag(stored.image_id, mover.repo, PRODUCTION)
    return stored


def validate_target(spec: str) -> str:
    """Refuse a malformed target before any engine or git call."""
    if _RUN_ID.match(spec):
        return spec
    if spec.startswith("sha256:"):
        if not re.fullmatch(r"sha256:[0-9a-f]{12,64}", spec):
            raise UsageError(f"invalid image id {spec!r}: sha256: and 12-64 hex digits")
        return spec
    if ":" in spec:
        repo, _, tag = spec.rpartition(":")
        image_name(repo, tag)  # the engine's reference grammar
        return spec
    return check_ref(spec)


def promote(mover: Mover, spec: str, *, reason: str, force: bool) -> Release:
    validate_target(spec)
    if force and not reason.strip():
        raise UsageError("--force needs --reason: the history keeps why the gate was overridden")
    with locked(mover):
        reconcile(mover)
        target = resolve_target(mover, spec)
        if mover.builder.image_id(target.image_id) is None:
            raise PromotionRefused(f"image {target.image_id[7:19]} is gone from the engine")
        why = why_not(mover, target.image_id, target.commit)
        if why and not force:
            raise PromotionRefused(f"promotion refused: {why} (override: --force --reason TEXT)")
        current = mover.store.production()
        if current and current.image_id == target.image_id:
            raise UsageError(f"image {target.image_id[7:19]} is already production (revision {current.revision})")
        note = f"{reason} [forced past: {why}]" if why else reason
        return _move(mover, action="promote", target=target, reason=note, forced=bool(why))


def rollback(
    mover: Mover, *, to: int | None, reason: str, force: bool = False, action: ReleaseAction = "rollback"
) -> RolledBack:
    """Back to an earlier release's image, passing over releases known to be bad (said in `skipped`)."""
    if force and not reason.strip():
        raise UsageError("--force needs --reason: the history keeps why the gate was overridden")
    with locked(mover):
        reconcile(mover)
        releases = mover.store.releases()
        refused = {r.image_id: why for r in releases if (why := why_not(mover, r.image_id, r.commit)) is not None}
        plan = rollback_target(releases, to, refused=refused, force=force, undo_last=action == "auto-rollback")
        target = plan.target
        if mover.builder.image_id(target.image_id) is None:
            alive = [r.revision for r in releases if mover.builder.image_id(r.image_id) is not None]
            raise PromotionRefused(
                f"revision {target.revision}'s image {target.image_id[7:19]} no longer exists; "
                f"revisions whose images exist: {alive or 'none'}"
            )
        back = Target(image_id=target.image_id, commit=target.commit, run_id=target.run_id)
        note = reason or f"back to revision {target.revision}"
        release = _move(
            mover,
            action=action,
            target=back,
            reason=f"{note} [forced past: {plan.forced_past}]" if plan.forced_past else note,
            forced=bool(plan.forced_past),
            based_on=target.based_on,
        )
        return RolledBack(release=release, skipped=plan.skipped)

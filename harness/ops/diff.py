"""diff: what changed upstream between two commits, from a wrapper's point of view.

Replaces the manual "phase 1" (diff analysis, integration analysis, update checklist):
commits, files (integration files first), requirement changes, model definitions,
signatures of contract functions, the contract verdict at the newer commit, a checklist.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.contract import Contract, ItemResult, Signature, parse_module
from harness.errors import UsageError
from harness.model import Commit
from harness.ops.check import CheckResult, check_commit
from harness.ops.culprit import INTEGRATION_PATHS
from harness.patches import PatchSeries, files_touched
from harness.ports import Upstream
from harness.reqdiff import RequirementChanges, requirement_changes

if TYPE_CHECKING:
    from harness.model import Release


@dataclass(frozen=True, kw_only=True)
class ModelChange:
    id: str
    change: str  # added | removed | changed
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RequirementStep:
    """One commit of the range that touched requirements.txt, against its first parent."""

    commit: Commit
    changes: RequirementChanges


@dataclass(frozen=True, kw_only=True)
class PatchImpact:
    """A downstream patch (wrapper.patches) touching files that changed upstream in the range."""

    patch: str
    files: tuple[str, ...]  # the files it touches that changed, upstream-relative


@dataclass(frozen=True, kw_only=True)
class DiffReport:
    old: Commit
    new: Commit
    commits: tuple[Commit, ...]
    files: tuple[tuple[str, str], ...]
    requirements: RequirementChanges  # the net change over the range
    requirement_steps: tuple[RequirementStep, ...]  # commit by commit: a pin that moved and came back shows
    models: tuple[ModelChange, ...]
    signatures: tuple[tuple[str, str, str], ...]  # (function, old rendering or "", new rendering or "")
    contract: CheckResult
    checklist: tuple[str, ...]
    refs: tuple[str, ...] = ()  # how symbolic refs resolved ("HEAD -> abc123 (fetched now: ...)")
    patches: tuple[PatchImpact, ...] | None = None  # None: no patch series configured


def _functions(upstream: Upstream, sha: str, files: tuple[str, ...]) -> dict[str, Signature]:
    found: dict[str, Signature] = {}
    for name in files:
        data = upstream.read_file(sha, name)
        if data is None:
            continue
        try:
            found.update(parse_module(data.decode("utf-8", "replace"), name)[0])
        except SyntaxError:
            continue
    return found


def _flat(doc: object, prefix: str = "") -> dict[str, object]:
    if isinstance(doc, dict):
        out: dict[str, object] = {}
        for key, value in doc.items():
            out |= _flat(value, f"{prefix}{key}.") if key == "model" and not prefix else {f"{prefix}{key}": value}
        return out
    return {prefix.rstrip("."): doc}


def _models(upstream: Upstream, old: str, new: str, files: tuple[tuple[str, str], ...]) -> tuple[ModelChange, ...]:
    changes = []
    for status, path in files:
        if not (path.startswith(("defaults/", "finetunes/")) and path.endswith(".json")):
            continue
        model = Path(path).stem
        if status == "A":
            changes.append(ModelChange(id=model, change="added"))
        elif status == "D":
            changes.append(ModelChange(id=model, change="removed"))
        else:
            try:
                before = _flat(json.loads(upstream.read_file(old, path) or b"{}"))
                after = _flat(json.loads(upstream.read_file(new, path) or b"{}"))
            except ValueError:
                changes.append(ModelChange(id=model, change="changed", keys=("(not valid JSON)",)))
                continue
            keys = tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))
            changes.append(ModelChange(id=model, change="changed", keys=keys))
    return tuple(changes)


def _checklist(report: DiffReport, contract_items: tuple[ItemResult, ...]) -> tuple[str, ...]:
    items = [
        f"tree entry {r.name!r} at {report.new.short}: no checkout may write it (the commit was crafted); "
        "build-and-test records FAIL for this commit and builds nothing"
        if r.kind == "tree"
        else f"fix the wrapper for {r.kind} `{r.name}`: {'; '.join(r.reasons)}"
        for r in contract_items
        if r.status != "ok"
    ]
    items += [
        f"patch `{p.patch}` touches {', '.join(p.files)}, changed upstream: check it still applies "
        f"(`harness patches refresh --to {report.new.short}`)"
        for p in report.patches or ()
    ]
    items += [
        f"review calls to `{name}`: {old or '(absent)'} -> {new or '(removed)'}" for name, old, new in report.signatures
    ]
    r = report.requirements
    if not r.empty:
        items.append(
            f"requirements changed ({len(r.added)} added, {len(r.removed)} removed, {len(r.repinned)} re-pinned): "
            "the deps image rebuilds; check the recipe filters still match"
        )
    items += _flip_flops(report.requirement_steps)
    for name, old, new in r.repinned:
        if name == "mmgp":
            items.append(f"mmgp re-pinned ({old} -> {new}): wgp exits 0 at import on a mismatch")
    for option in r.options:
        items.append(f"requirements option {option[0]}{option[1]}: does a recipe filter need to drop it?")
    for m in report.models:
        if m.change == "removed":
            items.append(f"model definition `{m.id}` removed: does the suite or an overlay use it?")
    return tuple(items)


def _flip_flops(steps: tuple[RequirementStep, ...]) -> list[str]:
    """Packages re-pinned by several commits of the range: the net change hides the middle."""
    chains: dict[str, list[str]] = {}
    for step in steps:
        for name, old, new in step.changes.repinned:
            chain = chains.setdefault(name, [old])
            chain.append(new)
    return [
        f"`{name}` re-pinned in {len(chain) - 1} commits: {' -> '.join(chain)}; commits in between ran the middle pins"
        for name, chain in chains.items()
        if len(chain) > 2
    ]


def patch_impact(series: PatchSeries, files: tuple[tuple[str, str], ...]) -> tuple[PatchImpact, ...]:
    """The patches of `series` that touch a file of `files` ((status, path) changed upstream)."""
    changed = {path for _, path in files}
    found = ((p.name, tuple(f for f in files_touched(p) if f in changed)) for p in series.patches)
    return tuple(PatchImpact(patch=name, files=hit) for name, hit in found if hit)


def _requirement_steps(upstream: Upstream, shas: list[str]) -> tuple[RequirementStep, ...]:
    steps = []
    for sha in shas:
        parent = upstream.parent(sha)
        old = upstream.read_file(parent, "requirements.txt") if parent else None
        new = upstream.read_file(sha, "requirements.txt")
        if old != new:
            changes = requirement_changes(
                (old or b"").decode("utf-8", "replace"), (new or b"").decode("utf-8", "replace")
            )
            steps.append(RequirementStep(commit=upstream.commit(sha), changes=changes))
    return tuple(steps)


def _requirement_lines(r: RequirementChanges, indent: str = "") -> list[str]:
    lines = [f"{indent}- added `{a}`" for a in r.added] + [f"{indent}- removed `{x}`" for x in r.removed]
    lines += [f"{indent}- `{o}` -> `{w}`" for _, o, w in r.repinned]
    return lines + [f"{indent}- option {s}`{o}`" for s, o in r.options]


def default_range(
    old_ref: str | None, new_ref: str | None, production: Callable[[], Release | None]
) -> tuple[str, str]:
    """The refs to compare: FROM defaults to the production commit (`production` is asked only
    then: it opens the run store), TO to upstream HEAD (resolved after a fetch unless offline)."""
    if old_ref is None:
        current = production()
        if current is None or not current.commit:
            raise UsageError("no production commit to diff from: give FROM explicitly")
        old_ref = current.commit
    return old_ref, "HEAD" if new_ref is None else new_ref


def diff(
    upstream: Upstream,
    old_ref: str | None,
    new_ref: str | None,
    contract: Contract,
    *,
    overlays: Path | None,
    suite_models: tuple[str, ...],
    production: Callable[[], Release | None] = lambda: None,
    series: PatchSeries | None = None,
) -> DiffReport:
    """What changed from `old_ref` to `new_ref` (None: the defaults of `default_range`), and
    which of the wrapper's patches (`series`) touch files that changed."""
    old_ref, new_ref = default_range(old_ref, new_ref, production)
    old, new = upstream.resolve(old_ref), upstream.resolve(new_ref)
    shas = upstream.first_parent_range(old.sha, new.sha)[1:]
    files = tuple(
        sorted(upstream.name_status(old.sha, new.sha), key=lambda f: (not f[1].startswith(INTEGRATION_PATHS), f[1]))
    )
    req = requirement_changes(
        (upstream.read_file(old.sha, "requirements.txt") or b"").decode("utf-8", "replace"),
        (upstream.read_file(new.sha, "requirements.txt") or b"").decode("utf-8", "replace"),
    )
    before, after = _functions(upstream, old.sha, contract.files), _functions(upstream, new.sha, contract.files)
    wanted = [n for item in contract.functions for n in item.names]
    signatures = tuple(
        (n, before[n].render() if n in before else "", after[n].render() if n in after else "")
        for n in wanted
        if (before[n].render() if n in before else "") != (after[n].render() if n in after else "")
    )
    verdict = check_commit(upstream, new, contract, overlays=overlays, suite_models=suite_models)
    report = DiffReport(
        old=old,
        new=new,
        commits=tuple(upstream.commit(s) for s in shas),
        files=files,
        requirements=req,
        requirement_steps=_requirement_steps(upstream, shas),
        models=_models(upstream, old.sha, new.sha, files),
        signatures=signatures,
        contract=verdict,
        checklist=(),
        refs=tuple(r.line() for ref in (old_ref, new_ref) if (r := upstream.resolution(ref)) and r.ref != r.sha),
        patches=None if series is None else patch_impact(series, files),
    )
    return dataclasses.replace(report, checklist=_checklist(report, verdict.items))


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title, "", *body]


def _steps_lines(steps: tuple[RequirementStep, ...]) -> list[str]:
    lines = []
    for step in steps:
        lines += [f"- {step.commit.short} {step.commit.subject}"]
        lines += _requirement_lines(step.changes, "  ") or ["  - comments or layout only"]
    return lines or ["- no commit touched requirements.txt"]


def _patch_lines(impacts: tuple[PatchImpact, ...]) -> list[str]:
    lines = [f"- `{p.patch}` touches changed files: {', '.join(f'`{f}`' for f in p.files)}" for p in impacts]
    return lines or ["- no patch touches a file that changed"]


def markdown(report: DiffReport) -> str:
    head = [
        f"# Upstream impact: {report.old.short} .. {report.new.short}",
        "",
        *(f"- ref {line}" for line in report.refs),
        *([""] if report.refs else []),
        f"{len(report.commits)} commits; contract at {report.new.short}: "
        f"**{'holds' if report.contract.holds else 'BROKEN'}**",
    ]
    signatures = [f"- `{n}`: `{o or '(absent)'}` -> `{w or '(removed)'}`" for n, o, w in report.signatures]
    sections = [
        _section("## Update checklist", [f"- [ ] {item}" for item in report.checklist] or ["- nothing to do"]),
        _section(
            "## Contract", [f"- {r.status}: {r.kind} `{r.name}` {'; '.join(r.reasons)}" for r in report.contract.items]
        ),
        *([] if report.patches is None else [_section("## Downstream patches", _patch_lines(report.patches))]),
        _section("## Signatures of contract functions", signatures or ["- unchanged"]),
        _section("## Requirements (net change)", _requirement_lines(report.requirements) or ["- unchanged"]),
        _section("### Requirements commit by commit", _steps_lines(report.requirement_steps)),
        _section(
            "## Model definitions",
            [f"- {m.change} `{m.id}` {', '.join(m.keys)}" for m in report.models] or ["- unchanged"],
        ),
        _section("## Files (integration first)", [f"- {s} {p}" for s, p in report.files]),
        _section(
            "## Commits (first parent, oldest first)", [f"- {c.short} {c.date} {c.subject}" for c in report.commits]
        ),
    ]
    return "\n".join(head + [line for section in sections for line in section]) + "\n"

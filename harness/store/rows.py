"""Run records and releases as rows, and back: every value read is checked (closed sets included)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from harness.errors import StoreError
from harness.model import (
    CaseResult,
    RecordLevel,
    Release,
    RunRecord,
    Verdict,
    VideoFacts,
    as_record_level,
    as_release_action,
)
from harness.runfolder import Orphan

INTERRUPTED = "interrupted: the harness process died or stopped before recording this run (run folder kept)"
INTERRUPTED_OLD = "interrupted: no record and no owner lock, left by an older harness (run folder kept)"
RUN_FIELDS = (
    "run_id",
    "commit_sha",
    "image_id",
    "image_tag",
    "deps_key",
    "suite",
    "suite_hash",
    "contract_hash",
    "level",
    "verdict",
    "summary",
    "started",
    "build_seconds",
    "run_seconds",
    "run_dir",
    "cases",
    "wrapper_sha",
    "node",
    "image_digest",
)
RUN_COLUMNS = ", ".join(RUN_FIELDS)
RUN_SLOTS = ", ".join("?" for _ in RUN_FIELDS)


def orphan_row(orphan: Orphan) -> tuple[object, ...]:
    facts = orphan.facts
    stamp = orphan.run_id[:15]  # the run id starts with its UTC start time
    started = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}+00:00"
    record = RunRecord(
        run_id=orphan.run_id,
        commit=facts.get("commit", ""),
        image_id="",
        image_tag="",
        deps_key="",
        suite=facts.get("suite", ""),
        suite_hash=facts.get("suite_hash", ""),
        contract_hash="",  # unknown: an interrupted run vouches for nothing (a bisect re-tests it, never skips it)
        level=_known_level(facts.get("level", "")),
        verdict=Verdict.ERROR,
        summary=INTERRUPTED if facts else INTERRUPTED_OLD,
        started=facts.get("started", started),
        build_seconds=0.0,
        run_seconds=0.0,
        run_dir=str(orphan.run_dir),
        cases=(),
        wrapper=facts.get("wrapper", ""),
    )
    return run_row(record)


def decode_release(r: tuple[object, ...]) -> Release:
    try:
        action = as_release_action(str(r[1]))
    except ValueError as exc:  # a row SQLite kept but harness cannot read
        why = f"release {r[0]!r}: a stored release cannot be read ({exc}); the store may be damaged"
        raise StoreError(why) from exc
    return Release(
        revision=int(str(r[0])),
        action=action,
        image_id=str(r[2]),
        commit=str(r[3]),
        from_image_id=str(r[4]),
        run_id=str(r[5]),
        created=str(r[6]),
        user=str(r[7]),
        reason=str(r[8]),
        forced=bool(r[9]),
        based_on=int(str(r[10])),
        image_digest=str(r[11]),
    )


def _known_level(value: str) -> RecordLevel:
    """A run folder's level as written by its harness; unknown ("") if it says anything else."""
    try:
        return as_record_level(value)
    except ValueError:
        return ""


def _case(raw: dict[str, Any]) -> CaseResult:
    """A case as `run_row` wrote it (parsed JSON: Any until the dataclass takes its fields)."""
    video = raw.get("video")
    fields = {k: v for k, v in raw.items() if k not in ("verdict", "video", "reasons", "notes")}
    return CaseResult(
        **fields,
        verdict=Verdict(raw["verdict"]),
        reasons=tuple(raw.get("reasons") or ()),
        notes=tuple(raw.get("notes") or ()),
        video=VideoFacts(**video) if isinstance(video, dict) else None,
    )


def run_row(record: RunRecord) -> tuple[object, ...]:
    """`record` as a runs row, in RUN_FIELDS order."""
    cases = json.dumps([dataclasses.asdict(c) | {"verdict": c.verdict.value} for c in record.cases])
    return (
        record.run_id,
        record.commit,
        record.image_id,
        record.image_tag,
        record.deps_key,
        record.suite,
        record.suite_hash,
        record.contract_hash,
        record.level,
        record.verdict.value,
        record.summary,
        record.started,
        record.build_seconds,
        record.run_seconds,
        record.run_dir,
        cases,
        record.wrapper,
        record.node,
        record.image_digest,
    )


def decode_run(row: tuple[object, ...]) -> RunRecord:
    try:
        return _decode(row)
    except (ValueError, TypeError, KeyError) as exc:  # a row SQLite kept but harness cannot read
        raise StoreError(f"run {row[0]!r}: a stored record cannot be read ({exc}); the store may be damaged") from exc


def _decode(row: tuple[object, ...]) -> RunRecord:
    (
        run_id,
        commit,
        image_id,
        image_tag,
        deps_key,
        suite,
        suite_hash,
        contract_hash,
        level,
        verdict,
        summary,
        started,
        build_s,
        run_s,
        run_dir,
        cases,
        wrapper,
        node,
        image_digest,
    ) = row
    return RunRecord(
        run_id=str(run_id),
        commit=str(commit),
        image_id=str(image_id),
        image_tag=str(image_tag),
        deps_key=str(deps_key),
        suite=str(suite),
        suite_hash=str(suite_hash),
        contract_hash=str(contract_hash),
        level=as_record_level(str(level)),
        verdict=Verdict(verdict),
        summary=str(summary),
        started=str(started),
        build_seconds=float(str(build_s)),
        run_seconds=float(str(run_s)),
        run_dir=str(run_dir),
        cases=tuple(_case(c) for c in json.loads(str(cases))),
        wrapper=str(wrapper),
        node=str(node),
        image_digest=str(image_digest),
    )

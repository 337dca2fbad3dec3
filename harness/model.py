"""Value objects passed between the core, the adapters and the use cases."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from harness.errors import EXIT_FAIL, EXIT_PASS, EXIT_SKIP

Level = Literal["contract", "smoke", "baseline"]
LEVELS: tuple[Level, ...] = ("contract", "smoke", "baseline")  # shallowest first: each checks more
# "": a run folder an older harness left without its facts, recorded as interrupted (harness/store/rows.py)
RecordLevel = Level | Literal[""]
Stage = Literal["env", "deps", "commit"]  # the images of one build, each FROM the one before
ReleaseAction = Literal["promote", "rollback", "auto-rollback"]
RELEASE_ACTIONS: tuple[ReleaseAction, ...] = ("promote", "rollback", "auto-rollback")
GpuMode = Literal["auto", "nvidia", "devices", "none"]  # run.gpu: how test containers get the GPUs
GPU_MODES: tuple[GpuMode, ...] = ("auto", "nvidia", "devices", "none")
StepSource = Literal["fresh", "reused"]  # a bisect probe tested now, or answered by a recorded run
STEP_SOURCES: tuple[StepSource, ...] = ("fresh", "reused")
Side = Literal["upstream", "wrapper"]  # which repository a bisect walks (wrapper mode: either)
SIDES: tuple[Side, ...] = ("upstream", "wrapper")
C = TypeVar("C", bound=str)


def one_of(value: str, allowed: tuple[C, ...], what: str) -> C:
    """`value` as a member of the closed set `allowed`; ValueError naming what is allowed."""
    for member in allowed:
        if member == value:
            return member
    raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")


def as_level(value: str) -> Level:
    return one_of(value, LEVELS, "level")


def as_record_level(value: str) -> RecordLevel:
    return "" if value == "" else as_level(value)


def as_step_source(value: str) -> StepSource:
    return one_of(value, STEP_SOURCES, "bisect step source")


def as_side(value: str) -> Side:
    return one_of(value, SIDES, "bisect side")


def as_release_action(value: str) -> ReleaseAction:
    return one_of(value, RELEASE_ACTIONS, "release action")


class Verdict(enum.Enum):
    """Outcome of one case or of a whole run. Only PASS and FAIL judge the commit."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # infra: the commit could not be judged
    SKIP = "skip"
    FLAKY = "flaky"  # failed, then passed on a retry: not a pass, never moves last-good

    @property
    def exit_code(self) -> int:
        match self:
            case Verdict.PASS:
                return EXIT_PASS
            case Verdict.FAIL:
                return EXIT_FAIL
            case Verdict.ERROR | Verdict.SKIP | Verdict.FLAKY:
                return EXIT_SKIP


@dataclass(frozen=True, kw_only=True)
class Commit:
    sha: str
    message: str
    author: str
    date: str  # ISO 8601, committer date

    @property
    def short(self) -> str:
        return self.sha[:12]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


@dataclass(frozen=True, kw_only=True)
class BuildSpec:
    """One image to build: everything the engine needs, planned before any I/O."""

    stage: Stage
    tag: str  # full reference repo:tag
    key: str  # content key; for env/deps the image is reused when it already carries it
    dockerfile: str  # text
    files: tuple[tuple[str, bytes], ...]  # context entries besides the Dockerfile
    dirs: tuple[tuple[str, str], ...] = ()  # (arcname, host folder) copied whole
    host_files: tuple[tuple[str, str], ...] = ()  # (arcname, host file) copied, executable (uv)
    buildargs: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    tree_commit: str = ""  # when set, the upstream tree at this sha goes under tree_root
    tree_root: str = "opt/wan2gp/"  # wrapper mode: "opt/" (the tree holds wrapper/ and the wan2gp link)


@dataclass(frozen=True, kw_only=True)
class CommitTo:
    """Where a script's container is committed: the tag, its labels (exact text) and the
    Dockerfile instructions (ENV, WORKDIR, ENTRYPOINT) the image gets."""

    tag: str
    labels: tuple[tuple[str, str], ...]
    changes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ScriptJob:
    """A command run in a container of `image` rather than a Dockerfile step: the deps builds,
    which need a download cache volume the classic builder cannot mount. `files` land under
    /opt/harness/ before it starts; `read_back` are read out after it ends."""

    stage: Stage
    image: str
    command: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()  # (volume name, mount path)
    read_back: tuple[str, ...] = ()
    commit: CommitTo | None = None


@dataclass(frozen=True, kw_only=True)
class ScriptResult:
    image_id: str  # "" when not committed
    files: tuple[tuple[str, str], ...]  # (path, text) of read_back; "" for a path not there
    seconds: float
    exit_code: int
    tail: tuple[str, ...]  # the output's last lines
    refused: str = ""  # why it was not committed though it exited 0 (the job's `accept` said)

    def file(self, path: str) -> str:
        return dict(self.files).get(path, "")


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    image_id: str
    tag: str
    reused: bool
    seconds: float


@dataclass(frozen=True, kw_only=True)
class VideoFacts:
    """What the host saw when it decoded an artifact."""

    path: str
    exists: bool
    decodes: bool = False
    frames: int = 0
    width: int = 0
    height: int = 0
    constant: bool = False
    size_bytes: int = 0
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    case_id: str
    model: str
    runner_status: str  # the old schema's success / failed / no_output
    verdict: Verdict
    reasons: tuple[str, ...]
    output_path: str = ""
    generation_time: float = 0.0
    error: str = ""
    video: VideoFacts | None = None
    gpu_peak_mib: float | None = None
    gpu_util_mean: float | None = None
    gpu_leak_mib: float | None = None
    drift_psnr: float | None = None  # against the last-good image's output for this case and seed
    drift_ref: str = ""  # the run drift_psnr was measured against ("" none, or a record from before v17 of harness)
    notes: tuple[str, ...] = ()  # flags that do not fail the case (a GPU memory leak, recorded drift)


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """What came back from the test container, before judging."""

    exit_code: int | None  # None: the container never finished
    timed_out: bool
    oom_killed: bool
    log_path: str
    results: dict[str, object] | None  # parsed results.json, None when absent or unreadable
    videos: dict[str, VideoFacts] = field(default_factory=dict)
    seconds: float = 0.0
    infra_error: str = ""
    telemetry: dict[str, object] = field(default_factory=dict)  # case id -> telemetry.CaseTelemetry
    drift: dict[str, float] = field(default_factory=dict)  # case id -> PSNR against last-good
    drift_ref: str = ""  # the last-good run those PSNRs compare with
    gpu_mode: GpuMode = "none"
    killed_for: str = ""  # "deadline", "silence" or "output" when harness had to kill the container
    results_error: str = ""  # why results.json was refused (FIFO, symlink, too big, malformed): a FAIL
    missing_weights: dict[str, tuple[str, ...]] = field(default_factory=dict)  # case id -> files not in the cache
    node: str = ""  # on a fleet: the Swarm node that ran it
    image_digest: str = ""  # on a fleet: the registry digest it ran from


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    run_id: str
    commit: str
    image_id: str
    image_tag: str
    deps_key: str
    suite: str
    suite_hash: str
    verdict: Verdict
    summary: str
    cases: tuple[CaseResult, ...]
    started: str
    build_seconds: float
    run_seconds: float
    run_dir: str
    level: RecordLevel = "baseline"
    contract_hash: str = ""  # the contract that judged it (contract_digest); "" unknown: vouches for nothing
    wrapper: str = ""  # wrapper mode: the wrapper's commit tested with `commit` ("" harness's own runner)
    node: str = ""  # on a fleet: the Swarm node its test ran on ("" locally)
    image_digest: str = ""  # on a fleet: the image's digest in the fleet's registry ("" locally)

    def vouches_for(self, key: RunKey) -> bool:
        """Whether this record's verdict, whatever it is, answers `key`'s question.

        The one predicate for every reuse (bisect probes) and every vouch (promotion,
        rollback): a verdict speaks only for the contract, suite, level, commit and image
        that produced it. A record whose contract is unknown (stores before v2) never does.
        """
        if not self.contract_hash or self.contract_hash != key.contract_hash or self.suite_hash != key.suite_hash:
            return False
        if key.wrapper_mode is not None and bool(self.wrapper) != key.wrapper_mode:
            return False
        if key.commit is not None and self.commit != key.commit:
            return False
        # A contract check reads the commit's source, not an image: it has none to match.
        if key.image_id is not None and self.level != "contract" and self.image_id != key.image_id:
            return False
        if key.deeper:
            return self.level in LEVELS and LEVELS.index(self.level) >= LEVELS.index(key.level)
        return self.level == key.level


@dataclass(frozen=True, kw_only=True)
class RunKey:
    """The question a recorded verdict must have been produced for to answer it."""

    suite_hash: str
    contract_hash: str
    level: Level
    commit: str | None = None  # None: any commit (the records are already of one image)
    image_id: str | None = None  # None: any image (bisect asks about commits, before building)
    deeper: bool = False  # a deeper level answers too (promotion: a baseline PASS satisfies smoke)
    # Wrapper mode: only a run that tested a wrapper (True), or only one of harness's own runner
    # (False), answers; None: either (a bisect matches the pair itself, ops/probe.py).
    wrapper_mode: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Pointer:
    """A named image the store follows (`last-good`): the run that moved it there."""

    name: str
    image_id: str
    commit: str
    run_id: str
    updated: str


@dataclass(frozen=True, kw_only=True)
class Release:
    revision: int
    action: ReleaseAction
    image_id: str
    commit: str
    from_image_id: str
    run_id: str
    created: str
    user: str
    reason: str
    forced: bool
    based_on: int  # the promote revision whose image this release puts back (itself for promote)
    # On a fleet: the image's digest in the fleet's registry (sha256:...), the one its deploy
    # rolled the service to. "" for local deploys, moves without --deploy, and stores before v8.
    image_digest: str = ""


@dataclass(frozen=True, kw_only=True)
class BisectSession:
    """One bisect as the store keeps it: its parameters for --resume, its answer once found."""

    id: str
    good: str
    bad: str
    level: Level
    suite_hash: str
    started: str
    finished: str
    answer: dict[str, object]
    reason: str = ""  # --reason: only failures matching it count as bad
    case: str = ""  # --case: only this case's failure counts
    side: Side = "upstream"  # wrapper mode: the side walked (good and bad are its commits)
    fixed: str = ""  # wrapper mode: the other side's commit, the same for every probe


@dataclass(frozen=True, kw_only=True)
class BisectStep:
    commit: str
    verdict: Verdict
    source: StepSource
    seconds: float
    run_id: str
    summary: str


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One reading of the GPUs a test container was given (NVML, on the host)."""

    t: float  # monotonic seconds
    used_mib: float  # device memory used, all GPUs given
    util: float  # mean utilisation, percent

"""Small hand-written fakes of the ports (harness/ports.py), for unit tests of the use cases.

Each is typed against its Protocol (`mypy --strict`, no `type: ignore`): a port that grows a
method fails the type check here first. They keep what they were asked in plain lists, so a
test asserts on what the use case did, not on how a mock was called.

Every fake takes `expect`: the only methods the test expects the use case to call (None, the
default: any). A call outside it raises `Unexpected`, so a use case that starts touching
something new fails loudly. A test that needs a behaviour of its own subclasses one with
`expect=()` and overrides what it uses.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from harness.compose import Health, ServiceSpec
from harness.config import ClipKind, Config, load_config
from harness.context import KEY_LABEL
from harness.errors import BuildFailed, NotifyError, PatchConflict, UnsafeTree
from harness.events import Event, EventKind, StoredEvent
from harness.model import (
    BuildSpec,
    CaseResult,
    Commit,
    Level,
    Release,
    RunRecord,
    Sample,
    ScriptJob,
    ScriptResult,
    Verdict,
    VideoFacts,
)
from harness.naming import LAST_GOOD
from harness.ops.build_and_test import World
from harness.ops.promote import Mover
from harness.ops.watch import BisectOutcome, Promotion, WatchWorld
from harness.patches import Patch, PatchSeries, series_digest
from harness.ports import Acceptance, ContainerRunner, GpuProbe, ImageBuilder, LineSink, Reporter, Sampler
from harness.preflight import GpuInfo
from harness.refs import RefResolution
from harness.runplan import OUT_DIR, ContainerExit, RunRequest
from harness.services import ImageInfo, ServiceState
from harness.store import Store
from harness.tarball import TreeEntry
from harness.watch import JUDGING, Bisecting
from harness.watchconfig import WatchConfig

WGP = b"def generate_video(task, send_cmd, **settings):\n    return None\n"
SUITE_HASH, CONTRACT_HASH = "suite-1", "contract-1"
BASE_ID = "sha256:" + "b" * 64  # what the local base image (harness-base:*) is, unless a test says

# A compose service with a health check (ops/deploy.py's spec); a test replaces what it varies.
SERVICE_SPEC = ServiceSpec(
    name="worker",
    image="",
    command=(),
    environment=(),
    mounts=(),
    health=Health(test=("CMD", "true"), interval_s=1.0, timeout_s=1.0, retries=1, start_period_s=0.0),
    restart="no",
    labels=(),
    gpu=False,
)


def sha_of(name: str) -> str:
    """A full-length sha named after a test's commit ("c1" -> 40 hex digits)."""
    return hashlib.sha1(name.encode()).hexdigest()


def sha(letter: str) -> str:
    return letter * 40


def image(letter: str) -> str:
    return "sha256:" + letter * 64


class Unexpected(AssertionError):
    """A port method the test did not expect the use case to call."""


class Expecting:
    """The `expect` check every fake shares (see the module's docstring)."""

    def __init__(self, expect: Collection[str] | None) -> None:
        self.expect = None if expect is None else frozenset(expect)

    def asked(self, method: str) -> None:
        if self.expect is not None and method not in self.expect:
            raise Unexpected(f"{type(self).__name__}.{method} was called: the test expected no such call")


class FakeUpstream(Expecting):
    """A first-parent history of commits (`names`, oldest first), each a small tree of files.

    `files` replaces the tree of a commit named by its name or sha (a sha outside the history
    too); `refs` names more commits; `reachable` adds shas outside the history that upstream
    still has. History questions about commits outside the history raise `Unexpected`.

    Patches: `apply_series` applies nothing (the patched tree is the commit's own) unless
    `patch_conflicts` names the commit (name or sha): then it raises that conflict. For
    `patches refresh`, `patch_fates` says per patch name whether it applies as is (the
    default), only by 3-way, or not at all; `applied` keeps (tree, patch, three_way) asked.
    """

    url = "file:///upstream"

    def __init__(
        self,
        names: Collection[str] = (),
        *,
        files: Mapping[str, Mapping[str, bytes]] | None = None,
        refs: Mapping[str, str] | None = None,
        reachable: Collection[str] = (),
        events: list[str] | None = None,
        fetch_error: Exception | None = None,
        patch_conflicts: Mapping[str, PatchConflict] | None = None,
        patch_fates: Mapping[str, PatchFate] | None = None,
        expect: Collection[str] | None = None,
    ) -> None:
        super().__init__(expect)
        self.shas = [sha_of(n) for n in names]
        self.by_name = dict(zip(names, self.shas, strict=True)) | dict(refs or {})
        default = {"wgp.py": WGP, "requirements.txt": b"numpy\n", "defaults/t2v_tiny.json": b"{}"}
        self.files = {s: dict(default) for s in self.shas}
        for name, tree in (files or {}).items():
            self.files[self.by_name.get(name, name)] = dict(tree)
        self.reachable_shas = set(self.shas) | set(reachable)
        self.unsafe: dict[str, tuple[str, ...]] = {}
        self.events = events if events is not None else []
        self.fetch_error = fetch_error
        self.patch_conflicts = {self.by_name.get(k, k): v for k, v in (patch_conflicts or {}).items()}
        self.patch_fates = dict(patch_fates or {})
        self.patched: list[tuple[str, str]] = []  # (commit, series digest) per apply_series
        self.applied: list[tuple[str, str, bool]] = []  # (tree, patch name, three_way) per apply_patch

    def _index(self, sha: str) -> int:
        if sha not in self.shas:
            raise Unexpected(f"a history question about {sha[:12]}, which is outside the test's history")
        return self.shas.index(sha)

    def resolve(self, ref: str) -> Commit:
        self.asked("resolve")
        return self.commit(self.by_name.get(ref, ref))

    def resolution(self, ref: str) -> RefResolution | None:
        self.asked("resolution")
        return None  # a test's refs are what they say

    def read_file(self, sha: str, path: str) -> bytes | None:
        self.asked("read_file")
        return self.files.get(sha, {}).get(path)

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        self.asked("iter_tree")
        self._index(sha)
        for path, data in sorted(self.files[sha].items()):
            yield TreeEntry(path=path, mode=0o100644, data=data)

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        self.asked("unsafe_tree")
        return UnsafeTree(sha, paths) if (paths := self.unsafe.get(sha)) else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        self.asked("is_ancestor")
        return self._index(older) <= self._index(newer)

    def commit(self, sha: str) -> Commit:
        self.asked("commit")
        name = next((n for n, s in self.by_name.items() if s == sha and s in self.shas), None)
        message = f"{name}\n" if name else f"commit {sha[:4]}"
        return Commit(sha=sha, message=message, author="a <a@b>", date="2024-01-01T00:00:00+00:00")

    def reachable(self, sha: str) -> bool:
        self.asked("reachable")
        return sha in self.reachable_shas

    def fetch(self) -> None:
        self.asked("fetch")
        self.events.append("fetch")
        if self.fetch_error is not None:
            raise self.fetch_error

    def first_parent_range(self, good: str, bad: str) -> list[str]:
        """Outside the history, a range is its two ends."""
        self.asked("first_parent_range")
        if good not in self.shas or bad not in self.shas:
            return [good, bad]
        return self.shas[self.shas.index(good) : self.shas.index(bad) + 1]

    def merged_range(self, merge: str) -> list[str]:
        self.asked("merged_range")
        self._index(merge)
        return []  # a straight history: no merges

    def diffstat(self, old: str, new: str) -> list[tuple[str, int, int]]:
        self.asked("diffstat")
        before, after = self.files.get(old, {}), self.files.get(new, {})
        return [(p, 1, 0) for p in sorted(after) if before.get(p) != after[p]]

    def parent(self, sha: str) -> str | None:
        """None for the first commit, and for any outside the history (a root)."""
        self.asked("parent")
        index = self.shas.index(sha) if sha in self.shas else 0
        return self.shas[index - 1] if index else None

    def list_files(self, sha: str, folder: str) -> list[str]:
        self.asked("list_files")
        prefix = f"{folder.rstrip('/')}/"
        return sorted(p.removeprefix(prefix) for p in self.files.get(sha, {}) if p.startswith(prefix))

    def name_status(self, old: str, new: str) -> list[tuple[str, str]]:
        self.asked("name_status")
        return [("M", p) for p, _, _ in self.diffstat(old, new)]

    def apply_series(self, sha: str, series: PatchSeries) -> str:
        self.asked("apply_series")
        self.patched.append((sha, series_digest(series)))
        if (found := self.patch_conflicts.get(sha)) is not None:
            raise found
        return sha

    def apply_patch(self, tree: str, patch: Patch, *, three_way: bool, commit: str = "") -> str:
        self.asked("apply_patch")
        self.applied.append((tree, patch.name, three_way))
        fate = self.patch_fates.get(patch.name, "clean")
        if fate == "conflict" or (fate == "three_way" and not three_way):
            raise PatchConflict(
                patch=patch.name, file="wgp.py", hunk="@@ -1,3 +1,4 @@", detail="patch does not apply", commit=commit
            )
        return sha_of(f"{tree}+{patch.name}")

    def diff_trees(self, old: str, new: str, prefixes: tuple[str, str]) -> str:
        self.asked("diff_trees")
        return f"diff --git {prefixes[0]}wgp.py {prefixes[1]}wgp.py\n# {old[:7]}..{new[:7]}\n"


PatchFate = Literal["clean", "three_way", "conflict"]


class FakeBuilder(Expecting):
    """An engine that 'builds' by remembering the spec: image ids come from the content key.

    `images` maps names (repo:tag) to ids; an id is its own name; harness-base:* is BASE_ID
    unless `images` says. `fail` maps a stage to the log tail its builds fail with (for commits
    whose sha is in `fail_for`, or every commit when that is empty); `env` is what the
    environment of an image it built says. Reading an image it did not build raises `Unexpected`.
    """

    def __init__(
        self,
        images: Mapping[str, str] | None = None,
        *,
        fail: Mapping[str, tuple[str, ...]] | None = None,
        fail_for: Collection[str] = (),
        env: Collection[str] = (),
        expect: Collection[str] | None = None,
    ) -> None:
        super().__init__(expect)
        self.images = dict(images or {})
        self.fail, self.fail_for, self.env = dict(fail or {}), set(fail_for), list(env)
        self.built: list[BuildSpec] = []  # each build asked, in order
        self.labels: dict[str, dict[str, str]] = {}  # image id -> labels
        self.lock = threading.Lock()  # prefetch builds run in threads

    @property
    def built_commits(self) -> list[str]:
        """The sha of each commit image built."""
        return [spec.tree_commit for spec in self.built if spec.tree_commit]

    def _lookup(self, name: str) -> str | None:
        with self.lock:
            if name in self.images.values():
                return name
            if name.startswith("harness-base") and name not in self.images:
                return BASE_ID
            return self.images.get(name)

    def _own(self, name: str, method: str) -> None:
        if self._lookup(name) not in self.labels:
            raise Unexpected(f"{type(self).__name__}.{method} of {name}, an image this fake never built")

    def image_id(self, name: str) -> str | None:
        self.asked("image_id")
        return self._lookup(name)

    def image_labels(self, name: str) -> dict[str, str]:
        self.asked("image_labels")
        with self.lock:
            return dict(self.labels.get(name, {}))

    def repo_digest(self, name: str) -> str:
        self.asked("repo_digest")
        return ""

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.asked("build")
        with self.lock:
            self.built.append(spec)
        tail = self.fail.get(spec.stage)
        if tail is not None and (not self.fail_for or spec.tree_commit in self.fail_for or spec.stage != "commit"):
            raise BuildFailed(spec.stage, tail[-1], tail)
        new = "sha256:" + hashlib.sha256(spec.key.encode()).hexdigest()
        with self.lock:
            self.images[spec.tag] = new
            self.labels[new] = dict(spec.labels) | {KEY_LABEL: spec.key}
        return new

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        self.asked("tag")
        with self.lock:
            self.images[f"{repo}:{tag}"] = image_id

    def run_script(
        self, job: ScriptJob, *, timeout_s: float, on_line: LineSink, accept: Acceptance | None = None
    ) -> ScriptResult:
        """A deps build's step: `resolve` pins each requirement at 1.0 over a bare env; `sync`
        leaves the lock exactly and is 'committed' (recorded in `built` as a deps spec)."""
        self.asked("run_script")
        files = {name: data.decode() for name, data in job.files}
        tail = self.fail.get("deps")
        if tail is not None:  # the failed attempt is a deps build asked, as a Dockerfile build's would be
            with self.lock:
                self.built.append(BuildSpec(stage="deps", tag=job.image, key="", dockerfile="", files=job.files))
            return ScriptResult(image_id="", files=(), seconds=1.0, exit_code=1, tail=tail)
        if job.command[-1] == "resolve":
            wanted = [
                line.split("=")[0].split(">")[0].split("<")[0].strip()
                for line in files["requirements.txt"].splitlines()
            ]
            changes = "".join(f" + {name}==1.0\n" for name in wanted if name and not name.startswith(("-", "#")))
            out = (("/opt/harness/freeze.txt", "pip==23.0\n"), ("/opt/harness/resolve.txt", changes))
            return ScriptResult(image_id="", files=out, seconds=1.0, exit_code=0, tail=())
        lock = "".join(line + "\n" for line in files["lock.txt"].splitlines() if not line.startswith("-"))
        result = ScriptResult(
            image_id="", files=(("/opt/harness/freeze.txt", lock),), seconds=1.0, exit_code=0, tail=()
        )
        refused = accept(result) if accept is not None else ""
        if refused or job.commit is None:
            return dataclasses.replace(result, refused=refused)
        labels = dict(job.commit.labels)
        spec = BuildSpec(stage="deps", tag=job.commit.tag, key=labels[KEY_LABEL], dockerfile="", files=job.files)
        new = "sha256:" + hashlib.sha256(spec.key.encode()).hexdigest()
        with self.lock:
            self.built.append(spec)
            self.images[spec.tag] = new
            self.labels[new] = labels
        return dataclasses.replace(result, image_id=new)

    def read_file(self, image: str, path: str) -> str:
        self.asked("read_file")
        self._own(image, "read_file")
        return "numpy==2.0\n"  # the deps image's pip freeze

    def torch_arch_list(self, image: str) -> list[str] | None:
        self.asked("torch_arch_list")
        self._own(image, "torch_arch_list")
        return ["sm_90"]

    def image_env(self, name: str) -> list[str]:
        self.asked("image_env")
        self._own(name, "image_env")
        return list(self.env)

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        self.asked("repo_images")
        return []  # no other state's images here


class FakeRunner(Expecting):
    """Runs nothing. With `answer`, that writes the container's log (and may look at its mounts).
    Otherwise it writes the results.json the suite runner would have: each run takes the next
    entry of `script`, else "fail" for a commit in `bad`, else "pass": "pass" (every case a
    success), "fail" (every case an error); a smoke run always imports and resolves its models."""

    def __init__(
        self,
        answer: Callable[[RunRequest, Path], None] | None = None,
        *,
        script: Collection[str] = (),
        bad: Collection[str] = (),
        runtimes: Collection[str] = (),
        expect: Collection[str] | None = None,
    ) -> None:
        super().__init__(expect)
        self.answer, self.script, self.bad, self.engine_runtimes = answer, list(script), set(bad), set(runtimes)
        self.requests: list[RunRequest] = []
        self.lock = threading.Lock()

    def runtimes(self) -> set[str]:
        self.asked("runtimes")
        return set(self.engine_runtimes)

    def _next(self, request: RunRequest) -> str:
        with self.lock:
            self.requests.append(request)
            if "--smoke" in request.command:
                return "smoke"
            if self.script:
                return self.script.pop(0)
        return "fail" if dict(request.labels).get("harness.commit") in self.bad else "pass"

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        self.asked("run")
        if self.answer is not None:
            with self.lock:
                self.requests.append(request)
            self.answer(request, Path(log_path))
        else:
            on_line(f"ran {self._suite(request)}")
        return ContainerExit(exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)

    def _suite(self, request: RunRequest) -> str:
        what = self._next(request)
        out = Path(request.output_dir)
        spec = json.loads((out.parent / "in" / "spec.json").read_text())
        doc: dict[str, object]
        if what == "smoke":
            doc = {"import_finished": True, "models": {c["settings"]["model_type"]: "ok" for c in spec["cases"]}}
        else:
            rows = []
            for case in spec["cases"]:
                (out / f"{case['id']}.mp4").write_bytes(b"video")
                status = {"status": "success"} if what == "pass" else {"status": "error", "error": "boom"}
                rows.append({"case_id": case["id"], "output_path": f"{OUT_DIR}/{case['id']}.mp4", **status})
            doc = {"results": rows}
        (out / "results.json").write_text(json.dumps(doc))
        return what


class FakeServices(Expecting):
    """The compose service (ops/deploy.py's ServiceEngine): each replace starts a container whose
    state is the next of `states` (the last one repeats)."""

    def __init__(
        self,
        states: Collection[ServiceState] = (),
        events: list[str] | None = None,
        *,
        expect: Collection[str] | None = None,
    ) -> None:
        super().__init__(expect)
        self.states = list(states)
        self.events = events if events is not None else []
        self.deployed: list[str] = []

    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        self.asked("replace_service")
        self.events.append(f"deploy {image}")
        self.deployed.append(image)
        return f"container-{len(self.deployed)}"

    def service_state(self, container_id: str) -> ServiceState:
        self.asked("service_state")
        return self.states[0] if len(self.states) == 1 else self.states.pop(0)


class NoSampler:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeGpu:
    """A host with these GPUs (none by default) and these device nodes."""

    def __init__(self, infos: Collection[GpuInfo] = (), nodes: tuple[str, ...] = (), error: str = "") -> None:
        self.infos, self.nodes, self.error = list(infos), nodes, error

    def device_nodes(self) -> tuple[str, ...]:
        return self.nodes

    def gpus(self) -> tuple[list[GpuInfo], str]:
        return list(self.infos), self.error or ("" if self.infos else "no NVML here")

    def sampler(self, indexes: list[int], period_s: float = 0.25) -> Sampler:
        return NoSampler()


def gpu_info(index: int = 0, *, free_gib: float = 80.0, total_gib: float = 80.0, driver: str = "550.54") -> GpuInfo:
    """One GPU as NVML reports it, with `free_gib` of its `total_gib` free."""
    return GpuInfo(
        index=index,
        uuid=f"GPU-{index}",
        name="NVIDIA H200",
        memory_total_mib=total_gib * 1024,
        memory_used_mib=(total_gib - free_gib) * 1024,
        capability=(9, 0),
        driver=driver,
    )


class FakeFiles:
    """Run folders and their files, in memory (ops/prune.py's `list_files` and `remove`): what
    was removed is kept in `removed`; a name in `refuse` raises PermissionError when removed."""

    def __init__(self, folders: Mapping[str, Collection[tuple[str, int]]], refuse: Collection[str] = ()) -> None:
        self.folders = {Path(d): {Path(d) / name: size for name, size in files} for d, files in folders.items()}
        self.refuse = set(refuse)
        self.listed: list[Path] = []
        self.removed: list[Path] = []

    def files(self, run_dir: Path) -> list[tuple[Path, int]]:
        self.listed.append(run_dir)
        return sorted(self.folders.get(run_dir, {}).items())

    def remove(self, path: Path) -> None:
        if path.name in self.refuse:
            raise PermissionError(13, "Permission denied", str(path))
        for files in self.folders.values():
            if path in files:
                del files[path]
                self.removed.append(path)
                return
        raise FileNotFoundError(2, "No such file or directory", str(path))


class Steps:
    """The reporter: what the use case said, step by step, and its lines."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.lines: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)

    def line(self, text: str) -> None:
        self.lines.append(text)


class Quiet:
    """The reporter that keeps nothing."""

    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def healthy() -> ServiceState:
    return ServiceState(status="running", health="healthy", restarts=0, log_tail="")


def unhealthy() -> ServiceState:
    return ServiceState(status="running", health="unhealthy", restarts=0, log_tail="boom\n")


def record(
    commit: str,
    image_id: str,
    run_id: str,
    verdict: Verdict = Verdict.PASS,
    *,
    level: Level = "baseline",
    suite_hash: str = SUITE_HASH,
    contract_hash: str = CONTRACT_HASH,
    repo: str = "harness-test/x",
) -> RunRecord:
    """A run judged by the current suite and contract (by default) at `level`: it vouches for
    `image_id`. It started at the second that ends its run id."""
    case = CaseResult(case_id="a", model="m", runner_status="success", verdict=verdict, reasons=())
    return RunRecord(
        run_id=run_id,
        commit=commit,
        image_id=image_id,
        image_tag=f"{repo}:{commit[:12]}",
        deps_key="k",
        suite="s",
        suite_hash=suite_hash,
        verdict=verdict,
        summary=verdict.value,
        cases=(case,),
        started=f"2026-01-01T00:00:0{run_id[-1]}+00:00",
        build_seconds=1.0,
        run_seconds=1.0,
        run_dir="",
        contract_hash=contract_hash,
        level=level,
    )


def release(revision: int, image_id: str, commit: str) -> Release:
    """A promotion as the store keeps it (no run behind it: the deploy loop and diff read only these)."""
    return Release(
        revision=revision,
        action="promote",
        image_id=image_id,
        commit=commit,
        from_image_id="",
        run_id="",
        created="t",
        user="u",
        reason="",
        forced=False,
        based_on=revision,
    )


def mover(store: Store, builder: FakeBuilder, upstream: FakeUpstream, folder: Path) -> Mover:
    return Mover(
        store=store,
        builder=builder,
        upstream=lambda: upstream,
        repo="harness-test/x",
        suite_hash=SUITE_HASH,
        contract_hash=CONTRACT_HASH,
        requires_level="baseline",
        lock_path=folder / "production.lock",
        lock_wait_s=5.0,
        user="tester",
        now=lambda: "2026-01-02T00:00:00+00:00",
    )


def definition(*urls: str) -> bytes:
    """A model definition file (defaults/<id>.json) naming these download URLs."""
    return json.dumps({"model": {"name": "tiny", "URLs": list(urls)}}).encode()


def no_clip(path: Path, kind: ClipKind) -> None:
    raise AssertionError("the suite asks for no generated clip")


def no_frames(path: Path) -> np.ndarray:
    raise OSError("no reference video to compare with")


def make_world(
    tmp_path: Path,
    upstream: FakeUpstream,
    *,
    builder: ImageBuilder | None = None,
    runner: ContainerRunner | None = None,
    gpu: GpuProbe | None = None,
    reporter: Reporter | None = None,
) -> World:
    """A World of fakes over a real store in the state folder `tmp_path/state` (see unit_config)."""
    minutes = iter(range(10**6))
    start = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    return World(
        upstream=upstream,
        builder=builder or FakeBuilder(),
        runner=runner or FakeRunner(),
        gpu=gpu or FakeGpu(),
        probe=lambda path: VideoFacts(path=str(path), exists=True, decodes=True, frames=5, width=64, height=48),
        frames=no_frames,
        sample_clip=no_clip,
        store=Store(tmp_path / "state" / "state.db"),
        reporter=reporter or Steps(),
        clock=lambda: start + datetime.timedelta(minutes=next(minutes)),
        session="test:1",
    )


CONTRACT = """\
files: [wgp.py]
functions:
  - names: [generate_video]
    positional: [task, send_cmd]
"""


def unit_config(
    tmp_path: Path, *, contract: bool = True, gpu: str = "none", retries: int = 0, derived: bool = False
) -> Config:
    """A harness.yaml of one small case (5 frames of 64x48, what the fake probe sees) and a
    recipe over the local base image; the state folder is `tmp_path/state`. `derived`: the
    contract is derived from a wrapper at ./wrapper (`contract: derived`)."""
    (tmp_path / "recipe").mkdir(exist_ok=True)
    (tmp_path / "recipe" / "recipe.yaml").write_text("base: harness-base:bookworm\npython: python3\ntorch: []\n")
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    config = tmp_path / "harness.yaml"
    written = "derived" if derived else "./contract.yaml" if contract else "none"
    wrapper = "wrapper: {url: ./wrapper, command: 'python test.py {out}'}\n" if derived else ""
    config.write_text(
        f"upstream: {{url: ./up}}\nstate_dir: state\ncontract: {written}\n{wrapper}"
        "image: {repo: harness-test/unit, recipe: ./recipe}\nbuild: {retries: 0, retry_backoff_s: 0}\n"
        f"run: {{gpu: {gpu}}}\nsuite:\n  retries: {retries}\n"
        "  cases: [{id: t2v, model: t2v_tiny, resolution: 64x48, frames: 5}]\n"
    )
    return load_config(config)


class FakeOutbox(Expecting):
    """The store's outbox (ports.Outbox) over a list of events: pending are those neither
    delivered nor given up; `calls` keeps each mark in order, e.g. ("sent", 1, "webhook $HOOK")."""

    def __init__(self, events: Collection[StoredEvent] = (), *, expect: Collection[str] | None = None) -> None:
        super().__init__(expect)
        self.events = {stored.seq: stored for stored in events}
        self.dropped: dict[int, str] = {}  # seq -> the error it was given up with
        self.delivered: list[int] = []
        self.calls: list[tuple[str, int, str]] = []

    def pending_events(self) -> list[StoredEvent]:
        self.asked("pending_events")
        done = set(self.dropped) | set(self.delivered)
        return [stored for seq, stored in sorted(self.events.items()) if seq not in done]

    def mark_sent(self, seq: int, receiver: str) -> None:
        self.asked("mark_sent")
        self.calls.append(("sent", seq, receiver))
        stored = self.events[seq]
        self.events[seq] = dataclasses.replace(stored, sent_to=(*stored.sent_to, receiver))

    def mark_attempt(self, seq: int, error: str) -> None:
        self.asked("mark_attempt")
        self.calls.append(("attempt", seq, error))
        stored = self.events[seq]
        self.events[seq] = dataclasses.replace(stored, attempts=stored.attempts + 1, last_error=error)

    def mark_delivered(self, seq: int) -> None:
        self.asked("mark_delivered")
        self.calls.append(("delivered", seq, ""))
        self.delivered.append(seq)

    def give_up(self, seq: int, error: str) -> None:
        self.asked("give_up")
        self.calls.append(("give_up", seq, error))
        self.dropped[seq] = error


def stored_event(
    seq: int, kind: EventKind = "pass", *, sent_to: tuple[str, ...] = (), attempts: int = 0
) -> StoredEvent:
    """An outbox entry for a commit named after its seq."""
    event = Event(kind=kind, key=f"{kind}:{seq}", created="2024-01-02T00:00:00+00:00", commit=sha_of(f"c{seq}"))
    return StoredEvent(seq=seq, event=event, sent_to=sent_to, attempts=attempts, last_error="")


class FakeNotifier:
    """A receiver (ports.Notifier) that takes every body after its first `fail_first` sends, or
    none while `down`; `log` (shareable with a fake sleep) keeps "<name> <event key>" per send."""

    def __init__(self, name: str, *, fail_first: int = 0, down: bool = False, log: list[str] | None = None) -> None:
        self.name = name
        self.fail_first, self.down = fail_first, down
        self.log = log if log is not None else []
        self.received: list[Mapping[str, object]] = []  # the bodies it took

    def send(self, body: Mapping[str, object]) -> None:
        self.log.append(f"{self.name} {body['key']}")
        if self.down or self.fail_first > 0:
            self.fail_first -= 1
            raise NotifyError(f"{self.name}: HTTP 503 Service Unavailable")
        self.received.append(body)


class FakeMetrics:
    """ports.Metrics keeping what it was told."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []  # (level, verdict)
        self.escalations = 0
        self.queue: list[int] = []
        self.beats = 0
        self.successes = 0

    def run_finished(self, *, level: str, verdict: str, seconds: float) -> None:
        self.runs.append((level, verdict))

    def succeeded(self, at: float) -> None:
        self.successes += 1

    def queue_length(self, n: int) -> None:
        self.queue.append(n)

    def escalated(self) -> None:
        self.escalations += 1

    def heartbeat(self, at: float) -> None:
        self.beats += 1


class FakeWatch:
    """The use cases behind `watch`, scripted over a real store in `tmp_path/state`.

    A test run of (commit, level) records `verdicts[(sha, level)]` (default PASS; a baseline
    PASS moves last-good forward, as build-and-test does); `raises` are raised by the next
    test runs instead (infra). The bisect names `first_bad`; a promotion is recorded as a
    release, and with `rolls_back` set its deploy is rolled back automatically. What the loop
    asked is kept: tests, bisects, impacts, promotions, deliveries.
    """

    def __init__(self, tmp_path: Path, upstream: FakeUpstream, *, first_bad: str | None = None) -> None:
        self.store = Store(tmp_path / "state" / "state.db")
        self.upstream = upstream
        self.verdicts: dict[tuple[str, Level], Verdict] = {}
        self.raises: list[Exception] = []
        self.tests: list[tuple[str, Level]] = []
        self.bisects: list[Bisecting] = []
        self.impacts: list[str] = []
        self.promotions: list[str] = []
        self.deliveries = 0
        self.first_bad = first_bad
        self.rolls_back = ""
        self.reasons: tuple[str, ...] = ()
        self.metrics = FakeMetrics()
        self.reporter = Steps()
        self.now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        self.reports = 0  # regenerations of the HTML report
        self.report_fails = ""  # a report that raises OSError with this text

    def report(self) -> str:
        self.reports += 1
        if self.report_fails:
            raise OSError(self.report_fails)
        return "report: 3 file(s) written"

    def clock(self) -> datetime.datetime:
        return self.now

    def test(self, sha: str, level: Level) -> RunRecord:
        self.tests.append((sha, level))
        if self.raises:
            raise self.raises.pop(0)
        verdict = self.verdicts.get((sha, level), Verdict.PASS)
        run = record(sha, f"sha256:{(sha * 2)[:64]}", f"r{len(self.tests):05d}", verdict, level=level)
        started = self.now - datetime.timedelta(hours=1) + datetime.timedelta(seconds=len(self.tests))
        run = dataclasses.replace(run, started=started.isoformat())  # in the past of the clock, in order
        moves = LAST_GOOD if verdict is Verdict.PASS and level == "baseline" else None
        self.store.add_run(run, move_pointer=moves, is_ancestor=self.upstream.is_ancestor)
        return run

    def recorded(self, sha: str, level: Level) -> RunRecord | None:
        found = [r for r in self.store.runs_for_commit(sha) if r.level == level and r.verdict in JUDGING]
        return max(found, key=lambda r: r.started, default=None)

    def bisect(self, b: Bisecting) -> BisectOutcome:
        self.bisects.append(b)
        return BisectOutcome(first_bad=self.first_bad, summary="the culprit's subject" if self.first_bad else "none")

    def impact(self, culprit: str) -> str:
        self.impacts.append(culprit)
        return f"/state/watch/impact-{culprit[:12]}"

    def baselines(self, image_id: str) -> list[RunRecord]:
        found = [r for r in self.store.runs_for_image(image_id) if r.level == "baseline"]
        return sorted(found, key=lambda r: r.started, reverse=True)

    def promote(self, image_id: str) -> Promotion:
        self.promotions.append(image_id)
        commit = next(r.commit for r in self.store.runs_for_image(image_id))
        moved = self.store.add_release(dataclasses.replace(release(0, image_id, commit), reason="watch"))
        if not self.rolls_back:
            return Promotion(release=moved, rolled_back="")
        back = dataclasses.replace(
            release(0, moved.from_image_id, "c" * 40), action="auto-rollback", from_image_id=image_id
        )
        return Promotion(release=self.store.add_release(back), rolled_back=self.rolls_back)

    def deliver(self) -> None:
        self.deliveries += 1

    def world(self, config: WatchConfig) -> WatchWorld:
        return WatchWorld(
            config=config,
            upstream=lambda: self.upstream,
            store=self.store,
            test=self.test,
            recorded=self.recorded,
            bisect=self.bisect,
            impact=self.impact,
            baselines=self.baselines,
            promote=self.promote,
            reconcile=lambda: None,
            reasons=lambda run: self.reasons,
            retention=lambda: "nothing to remove",
            deliver=self.deliver,
            report=self.report,
            metrics=self.metrics,
            clock=self.clock,
            reporter=self.reporter,
        )


class FakeMedia:
    """ops/report.Media: a "sheet" is a small file naming its video; a `.avi` video is not
    playable in a browser and gets a `.webm` "copy". Remembers each video it was asked about."""

    def __init__(self, *, broken: Collection[str] = ()) -> None:
        self.sheets: list[Path] = []
        self.copies: list[Path] = []
        self.broken = set(broken)  # video file names whose sheet cannot be made

    def sheet(self, video: Path, out: Path) -> str:
        self.sheets.append(video)
        if video.name in self.broken:
            return "not a video: no decodable frame"
        out.write_text(f"sheet of {video.name}\n")
        return ""

    def playable(self, video: Path) -> bool:
        return video.suffix != ".avi"

    def recall(self, folder: Path) -> dict[str, dict[str, str]] | None:
        try:
            doc: dict[str, dict[str, str]] = json.loads((folder / "media.json").read_text())
        except OSError:
            return None
        return doc

    def remember(self, folder: Path, index: dict[str, dict[str, str]]) -> None:
        folder.mkdir(exist_ok=True)
        (folder / "media.json").write_text(json.dumps(index))

    def web_copy(self, video: Path, folder: Path, stem: str) -> tuple[Path | None, str]:
        self.copies.append(video)
        copy = folder / f"{stem}.webm"
        copy.write_bytes(video.read_bytes())
        return copy, ""


class FakeSite:
    """ops/report.SiteFiles in memory: what was written (and how often), linked and removed."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.linked: dict[str, Path] = {}
        self.writes: list[str] = []
        self.removed: list[str] = []
        self.saved: dict[str, str] = {}
        self.refuse: set[str] = set()  # site paths whose link fails

    def manifest(self) -> dict[str, str]:
        return dict(self.saved)

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.linked

    def write(self, path: str, text: str) -> None:
        self.files[path] = text
        self.writes.append(path)

    def link(self, source: Path, path: str, *, within: Path) -> None:
        if path in self.refuse or not source.resolve().is_relative_to(within.resolve()):
            raise OSError(f"{source}: refused")
        self.linked[path] = source

    def remove(self, path: str) -> None:
        self.files.pop(path, None)
        self.linked.pop(path, None)
        self.removed.append(path)

    def save_manifest(self, manifest: dict[str, str]) -> None:
        self.saved = dict(manifest)

"""Small hand-written fakes of the ports (harness/ports.py), for unit tests of the use cases.

Each is typed against its Protocol (`mypy --strict`, no `type: ignore`): a port that grows a
method fails the type check here first. They keep what they were asked in plain lists, so a
test asserts on what the use case did, not on how a mock was called.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from harness.config import ClipKind, Config, load_config
from harness.context import KEY_LABEL
from harness.errors import BuildFailed, UnsafeTree
from harness.model import BuildSpec, Commit, Sample, VideoFacts
from harness.ops.build_and_test import World
from harness.ports import ContainerRunner, GpuProbe, ImageBuilder, LineSink, Reporter, Sampler
from harness.preflight import GpuInfo
from harness.refs import RefResolution
from harness.runplan import OUT_DIR, ContainerExit, RunRequest
from harness.services import ImageInfo
from harness.store import Store
from harness.tarball import TreeEntry

WGP = b"def generate_video(task, send_cmd, **settings):\n    return None\n"


def sha_of(name: str) -> str:
    """A full-length sha named after a test's commit ("c1" -> 40 hex digits)."""
    return hashlib.sha1(name.encode()).hexdigest()


class FakeUpstream:
    """A first-parent history of commits, each a small tree of files (wgp.py, defaults/...)."""

    url = "file:///fake/upstream"

    def __init__(self, names: list[str], *, files: dict[str, dict[str, bytes]] | None = None) -> None:
        self.shas = [sha_of(n) for n in names]
        self.by_name = dict(zip(names, self.shas, strict=True))
        default = {"wgp.py": WGP, "requirements.txt": b"numpy\n", "defaults/t2v_tiny.json": b"{}"}
        self.files = {sha: dict(default) for sha in self.shas}
        for name, tree in (files or {}).items():
            self.files[self.by_name[name]] = tree
        self.unsafe: dict[str, tuple[str, ...]] = {}

    def _sha(self, ref: str) -> str:
        sha = self.by_name.get(ref, ref)
        if sha not in self.files:
            raise KeyError(ref)
        return sha

    def resolve(self, ref: str) -> Commit:
        return self.commit(self._sha(ref))

    def resolution(self, ref: str) -> RefResolution | None:
        return None  # a test's refs are what they say

    def read_file(self, sha: str, path: str) -> bytes | None:
        return self.files[sha].get(path)

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        for path, data in sorted(self.files[sha].items()):
            yield TreeEntry(path=path, mode=0o100644, data=data)

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        return UnsafeTree(sha, paths) if (paths := self.unsafe.get(sha)) else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.shas.index(older) <= self.shas.index(newer)

    def commit(self, sha: str) -> Commit:
        name = next(n for n, s in self.by_name.items() if s == sha)
        return Commit(sha=sha, message=f"{name}\n", author="a <a@b>", date="2024-01-01T00:00:00+00:00")

    def reachable(self, sha: str) -> bool:
        return sha in self.files

    def fetch(self) -> None:
        pass

    def first_parent_range(self, good: str, bad: str) -> list[str]:
        return self.shas[self.shas.index(good) : self.shas.index(bad) + 1]

    def merged_range(self, merge: str) -> list[str]:
        return []  # a straight history: no merges

    def diffstat(self, old: str, new: str) -> list[tuple[str, int, int]]:
        return [(p, 1, 0) for p in sorted(self.files[new]) if self.files[old].get(p) != self.files[new][p]]

    def parent(self, sha: str) -> str | None:
        index = self.shas.index(sha)
        return self.shas[index - 1] if index else None

    def list_files(self, sha: str, folder: str) -> list[str]:
        prefix = f"{folder.rstrip('/')}/"
        return sorted(p.removeprefix(prefix) for p in self.files[sha] if p.startswith(prefix))

    def name_status(self, old: str, new: str) -> list[tuple[str, str]]:
        return [("M", p) for p, _, _ in self.diffstat(old, new)]


@dataclass
class FakeBuilder:
    """An engine that 'builds' by remembering the spec: image ids come from the content key.

    `fail` maps a stage to the log tail its builds fail with (for commits whose sha is in
    `fail_for`, or every commit when that is empty); `env` is what every image's environment says.
    """

    fail: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fail_for: set[str] = field(default_factory=set)
    env: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)  # stage of each build asked, in order
    built_commits: list[str] = field(default_factory=list)  # the sha of each commit image built
    tags: dict[str, str] = field(default_factory=dict)  # name -> image id
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # image id -> labels
    lock: threading.Lock = field(default_factory=threading.Lock)  # prefetch builds run in threads

    def image_id(self, name: str) -> str | None:
        if name.startswith("harness-base"):
            return "sha256:" + "b" * 64
        with self.lock:
            return self.tags.get(name)

    def image_labels(self, name: str) -> dict[str, str]:
        with self.lock:
            return dict(self.labels.get(name, {}))

    def repo_digest(self, name: str) -> str:
        return ""

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        commit = spec.tree_commit or ""
        with self.lock:
            self.built.append(spec.stage)
            if commit:
                self.built_commits.append(commit)
        tail = self.fail.get(spec.stage)
        if tail is not None and (not self.fail_for or commit in self.fail_for or spec.stage != "commit"):
            raise BuildFailed(spec.stage, tail[-1], tail)
        image = "sha256:" + hashlib.sha256(spec.key.encode()).hexdigest()
        with self.lock:
            self.tags[spec.tag] = image
            self.labels[image] = dict(spec.labels) | {KEY_LABEL: spec.key}
        return image

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        with self.lock:
            self.tags[f"{repo}:{tag}"] = image_id

    def read_file(self, image: str, path: str) -> str:
        return "numpy==2.0\n"  # the deps image's pip freeze

    def torch_arch_list(self, image: str) -> list[str] | None:
        return ["sm_90"]

    def image_env(self, name: str) -> list[str]:
        return list(self.env)

    def repo_images(self, repo: str) -> list[ImageInfo]:
        return []  # no other state's images here


@dataclass
class FakeRunner:
    """Runs the suite by writing the results.json the runner would have. Each run takes the next
    entry of `script`, else "fail" for a commit in `bad`, else "pass": "pass" (every case a
    success), "fail" (every case an error); a smoke run always imports and resolves its models."""

    script: list[str] = field(default_factory=list)
    bad: set[str] = field(default_factory=set)
    requests: list[RunRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def runtimes(self) -> set[str]:
        return set()

    def _next(self, request: RunRequest) -> str:
        with self.lock:
            self.requests.append(request)
            if "--smoke" in request.command:
                return "smoke"
            if self.script:
                return self.script.pop(0)
        return "fail" if dict(request.labels).get("harness.commit") in self.bad else "pass"

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
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
        on_line(f"ran {what}")
        return ContainerExit(exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)


class NoSampler:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@dataclass
class FakeGpu:
    """A host with these GPUs (none by default) and these device nodes."""

    infos: list[GpuInfo] = field(default_factory=list)
    nodes: tuple[str, ...] = ()

    def device_nodes(self) -> tuple[str, ...]:
        return self.nodes

    def gpus(self) -> tuple[list[GpuInfo], str]:
        return list(self.infos), "" if self.infos else "no NVML here"

    def sampler(self, indexes: list[int], period_s: float = 0.25) -> Sampler:
        return NoSampler()


@dataclass
class Steps:
    """The reporter: what the use case said, step by step."""

    steps: list[str] = field(default_factory=list)

    def step(self, text: str) -> None:
        self.steps.append(text)

    def line(self, text: str) -> None:
        pass


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


def unit_config(tmp_path: Path, *, contract: bool = True, gpu: str = "none", retries: int = 0) -> Config:
    """A harness.yaml of one small case (5 frames of 64x48, what the fake probe sees) and a
    recipe over the local base image; the state folder is `tmp_path/state`."""
    (tmp_path / "recipe").mkdir(exist_ok=True)
    (tmp_path / "recipe" / "recipe.yaml").write_text("base: harness-base:bookworm\npython: python3\ntorch: []\n")
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    config = tmp_path / "harness.yaml"
    config.write_text(
        f"upstream: {{url: ./up}}\nstate_dir: state\ncontract: {'./contract.yaml' if contract else 'none'}\n"
        "image: {repo: harness-test/unit, recipe: ./recipe}\nbuild: {retries: 0, retry_backoff_s: 0}\n"
        f"run: {{gpu: {gpu}}}\nsuite:\n  retries: {retries}\n"
        "  cases: [{id: t2v, model: t2v_tiny, resolution: 64x48, frames: 5}]\n"
    )
    return load_config(config)

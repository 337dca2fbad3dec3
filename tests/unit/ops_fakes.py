"""Small hand-written fakes of the ports (harness/ports.py, ops/deploy.py's ServiceEngine) for
the use cases the CLI calls: reconcile, weights pull, diff, rollback + deploy, pin.

Each is typed against its Protocol (mypy checks that); a method a test does not expect to be
called raises, so a use case that starts touching something new fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from harness.compose import ServiceSpec
from harness.errors import UnsafeTree
from harness.model import BuildSpec, CaseResult, Commit, RunRecord, Verdict
from harness.ops.promote import Mover
from harness.ports import LineSink
from harness.refs import RefResolution
from harness.runplan import ContainerExit, RunRequest
from harness.services import ImageInfo, ServiceState
from harness.store import Store
from harness.tarball import TreeEntry

SUITE_HASH, CONTRACT_HASH = "suite-1", "contract-1"


def image(letter: str) -> str:
    return "sha256:" + letter * 64


def sha(letter: str) -> str:
    return letter * 40


class Unexpected(AssertionError):
    """A port method the test did not expect the use case to call."""


class FakeUpstream:
    """Commits by sha (refs name them through `refs`), files per (sha, path), what is reachable."""

    url = "file:///upstream"

    def __init__(
        self,
        *,
        refs: dict[str, str] | None = None,
        files: dict[tuple[str, str], bytes] | None = None,
        reachable: set[str] | None = None,
        events: list[str] | None = None,
        fetch_error: Exception | None = None,
    ) -> None:
        self.refs = refs or {}
        self.files = files or {}
        self.reachable_shas = reachable or set()
        self.events = events if events is not None else []
        self.fetch_error = fetch_error

    def resolve(self, ref: str) -> Commit:
        return self.commit(self.refs.get(ref, ref))

    def resolution(self, ref: str) -> RefResolution | None:
        return None

    def read_file(self, sha: str, path: str) -> bytes | None:
        return self.files.get((sha, path))

    def list_files(self, sha: str, folder: str) -> list[str]:
        prefix = f"{folder}/"
        return sorted(p.removeprefix(prefix) for s, p in self.files if s == sha and p.startswith(prefix))

    def commit(self, sha: str) -> Commit:
        return Commit(sha=sha, message=f"commit {sha[:4]}", author="a", date="2026-01-01T00:00:00+00:00")

    def reachable(self, sha: str) -> bool:
        return sha in self.reachable_shas

    def fetch(self) -> None:
        self.events.append("fetch")
        if self.fetch_error is not None:
            raise self.fetch_error

    def first_parent_range(self, good: str, bad: str) -> list[str]:
        return [good, bad]

    def diffstat(self, old: str, new: str) -> list[tuple[str, int, int]]:
        return []

    def name_status(self, old: str, new: str) -> list[tuple[str, str]]:
        return []

    def parent(self, sha: str) -> str | None:
        return None  # every commit a root: no history beyond what a test names

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        raise Unexpected("iter_tree")

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        return None

    def is_ancestor(self, older: str, newer: str) -> bool:
        raise Unexpected("is_ancestor")

    def merged_range(self, merge: str) -> list[str]:
        raise Unexpected("merged_range")


class FakeBuilder:
    """Images by name or id; `tag` moves a name; `build` makes a new id per spec tag."""

    def __init__(self, images: dict[str, str] | None = None) -> None:
        self.images = dict(images or {})
        self.labels: dict[str, dict[str, str]] = {}
        self.built: list[BuildSpec] = []

    def image_id(self, name: str) -> str | None:
        if name in self.images.values():
            return name
        return self.images.get(name)

    def image_labels(self, name: str) -> dict[str, str]:
        return self.labels.get(name, {})

    def repo_digest(self, name: str) -> str:
        return ""

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        self.built.append(spec)
        new = image(str(len(self.built)))
        self.images[spec.tag] = new
        self.labels[new] = dict(spec.labels)
        return new

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        self.images[f"{repo}:{tag}"] = image_id

    def repo_images(self, repo: str) -> list[ImageInfo]:
        return []  # no other harness state shares the repository

    def read_file(self, image: str, path: str) -> str:
        raise Unexpected("read_file")

    def torch_arch_list(self, image: str) -> list[str] | None:
        raise Unexpected("torch_arch_list")

    def image_env(self, name: str) -> list[str]:
        raise Unexpected("image_env")


class FakeRunner:
    """Runs nothing: `answer` writes the container's log (and may look at its mounts)."""

    def __init__(self, answer: Callable[[RunRequest, Path], None]) -> None:
        self.answer = answer
        self.requests: list[RunRequest] = []

    def runtimes(self) -> set[str]:
        return {"runc"}

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        self.requests.append(request)
        self.answer(request, Path(log_path))
        return ContainerExit(exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)


class FakeServices:
    """The compose service: each replace starts a container whose state is the next of `states`."""

    def __init__(self, states: list[ServiceState], events: list[str]) -> None:
        self.states, self.events = states, events
        self.deployed: list[str] = []

    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        self.events.append(f"deploy {image}")
        self.deployed.append(image)
        return f"container-{len(self.deployed)}"

    def service_state(self, container_id: str) -> ServiceState:
        return self.states[0] if len(self.states) == 1 else self.states.pop(0)


class Quiet:
    def step(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass


def healthy() -> ServiceState:
    return ServiceState(status="running", health="healthy", restarts=0, log_tail="")


def unhealthy() -> ServiceState:
    return ServiceState(status="running", health="unhealthy", restarts=0, log_tail="boom\n")


def record(commit: str, image_id: str, run_id: str, verdict: Verdict = Verdict.PASS) -> RunRecord:
    """A run judged by the current suite and contract at baseline: it vouches for `image_id`."""
    case = CaseResult(case_id="a", model="m", runner_status="success", verdict=verdict, reasons=())
    return RunRecord(
        run_id=run_id,
        commit=commit,
        image_id=image_id,
        image_tag=f"harness-test/x:{commit[:12]}",
        deps_key="k",
        suite="s",
        suite_hash=SUITE_HASH,
        verdict=verdict,
        summary=verdict.value,
        cases=(case,),
        started=f"2026-01-01T00:00:0{run_id[-1]}+00:00",
        build_seconds=1.0,
        run_seconds=1.0,
        run_dir="",
        contract_hash=CONTRACT_HASH,
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

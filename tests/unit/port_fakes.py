"""Fakes of the ports (harness/ports.py), typed against them: every method is there, so a fake
passes mypy --strict wherever its Protocol is asked for; a method a test did not expect to be
called fails it, naming the call. A test subclasses the one it needs and overrides what it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NoReturn

from harness.compose import ServiceSpec
from harness.errors import UnsafeTree
from harness.model import BuildSpec, Commit
from harness.ports import LineSink
from harness.refs import RefResolution
from harness.runplan import ContainerExit, RunRequest
from harness.services import ImageInfo, ServiceState
from harness.tarball import TreeEntry


class Unexpected(AssertionError):
    """A port method the test did not expect to be called was."""


def _unexpected(owner: object, method: str) -> NoReturn:
    raise Unexpected(f"{type(owner).__name__}.{method} was called: the test expected no such call")


class UpstreamFake:
    """ports.Upstream: a test overrides what it expects to be asked."""

    url = "file:///upstream"

    def resolve(self, ref: str) -> Commit:
        _unexpected(self, "resolve")

    def resolution(self, ref: str) -> RefResolution | None:
        _unexpected(self, "resolution")

    def read_file(self, sha: str, path: str) -> bytes | None:
        _unexpected(self, "read_file")

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        _unexpected(self, "iter_tree")

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        _unexpected(self, "unsafe_tree")

    def is_ancestor(self, older: str, newer: str) -> bool:
        _unexpected(self, "is_ancestor")

    def commit(self, sha: str) -> Commit:
        _unexpected(self, "commit")

    def reachable(self, sha: str) -> bool:
        _unexpected(self, "reachable")

    def fetch(self) -> None:
        _unexpected(self, "fetch")

    def first_parent_range(self, good: str, bad: str) -> list[str]:
        _unexpected(self, "first_parent_range")

    def merged_range(self, merge: str) -> list[str]:
        _unexpected(self, "merged_range")

    def diffstat(self, old: str, new: str) -> list[tuple[str, int, int]]:
        _unexpected(self, "diffstat")

    def parent(self, sha: str) -> str | None:
        _unexpected(self, "parent")

    def list_files(self, sha: str, folder: str) -> list[str]:
        _unexpected(self, "list_files")

    def name_status(self, old: str, new: str) -> list[tuple[str, str]]:
        _unexpected(self, "name_status")


class BuilderFake:
    """ports.ImageBuilder."""

    def image_id(self, name: str) -> str | None:
        _unexpected(self, "image_id")

    def image_labels(self, name: str) -> dict[str, str]:
        _unexpected(self, "image_labels")

    def repo_digest(self, name: str) -> str:
        _unexpected(self, "repo_digest")

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        _unexpected(self, "build")

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        _unexpected(self, "tag")

    def read_file(self, image: str, path: str) -> str:
        _unexpected(self, "read_file")

    def torch_arch_list(self, image: str) -> list[str] | None:
        _unexpected(self, "torch_arch_list")

    def image_env(self, name: str) -> list[str]:
        _unexpected(self, "image_env")

    def repo_images(self, repo: str) -> list[ImageInfo]:
        _unexpected(self, "repo_images")


class RunnerFake:
    """ports.ContainerRunner."""

    def runtimes(self) -> set[str]:
        _unexpected(self, "runtimes")

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        _unexpected(self, "run")


class ServiceEngineFake:
    """ports.ServiceEngine."""

    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        _unexpected(self, "replace_service")

    def service_state(self, container_id: str) -> ServiceState:
        _unexpected(self, "service_state")


class Steps:
    """ports.Reporter that keeps the steps."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.lines: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)

    def line(self, text: str) -> None:
        self.lines.append(text)

"""Images: queries, tags, builds, and looking inside one through a short-lived container."""

from __future__ import annotations

import datetime
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

import docker.errors

from harness.adapters.engine.build import LineSink, run_build
from harness.adapters.engine.connection import Connection, engine_errors, log_config
from harness.adapters.engine.info import find_image_id
from harness.adapters.engine.scripts import Acceptance, run_script
from harness.errors import RunInfraError
from harness.model import BuildSpec, ScriptJob, ScriptResult
from harness.services import ImageInfo

# get_arch_list() is [] whenever no GPU is visible, as in an inspection container; the build
# flags are what the wheel carries. None: a CUDA build that does not say.
_ARCH_LIST = (
    "import json, torch; f = getattr(torch._C, '_cuda_getArchFlags', lambda: None)(); "
    "print(json.dumps(f.split() if f else ([] if torch.version.cuda is None else None)))"
)


def image_info(image: Any) -> ImageInfo:
    return ImageInfo(
        id=str(image.id),
        tags=tuple(image.tags),
        labels=dict(image.labels or {}),
        created=str(image.attrs.get("Created", "")),
    )


def listed_images(conn: Connection, **query: Any) -> list[ImageInfo]:
    """The engine's image list alone, one request: tags and labels exact, the creation time to the
    second. Every build-and-test checks its repositories' owners (ops/isolation.py): inspecting
    each image, as image_infos does, cost a request per image of the repository, and commit
    images pile up there (0.8 s a probe on a bench's 70 images)."""
    return [
        ImageInfo(
            id=str(row["Id"]),
            tags=tuple(t for t in row.get("RepoTags") or () if t != "<none>:<none>"),
            labels=dict(row.get("Labels") or {}),
            created=datetime.datetime.fromtimestamp(int(row.get("Created") or 0), datetime.UTC).isoformat(),
        )
        for row in conn.client.api.images(**query)
    ]


def image_infos(conn: Connection, **query: Any) -> list[ImageInfo]:
    """docker-py's images.list inspects each image and fails on one removed meanwhile (a
    concurrent build's intermediate stage, another gc): those are skipped here."""
    found = []
    for row in conn.client.api.images(**query):
        with suppress(docker.errors.NotFound):
            found.append(image_info(conn.client.images.get(row["Id"])))
    return found


@dataclass(frozen=True, kw_only=True)
class Images:
    """The ImageBuilder port: what is there, build, tag, and read what an image holds."""

    conn: Connection

    def image_id(self, name: str) -> str | None:
        return find_image_id(self.conn, name)

    def _attrs(self, name: str) -> dict[str, Any] | None:
        with engine_errors(f"inspecting {name}"):
            try:
                return dict(self.conn.client.images.get(name).attrs)
            except docker.errors.ImageNotFound:
                return None

    def image_labels(self, name: str) -> dict[str, str]:
        attrs = self._attrs(name)
        return dict(((attrs or {}).get("Config") or {}).get("Labels") or {})

    def image_env(self, name: str) -> list[str]:
        attrs = self._attrs(name)
        return list(((attrs or {}).get("Config") or {}).get("Env") or [])

    def repo_digest(self, name: str) -> str:
        digests = (self._attrs(name) or {}).get("RepoDigests") or []
        return str(digests[0]).split("@", 1)[-1] if digests else ""

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        """Every image tagged in any of `repos` (any tag), in one request; created to the second."""
        with engine_errors(f"listing the images of {', '.join(repos)}"):
            return listed_images(self.conn, filters={"reference": list(repos)})

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        with engine_errors(f"tagging {repo}:{tag}"):
            if not self.conn.client.api.tag(image_id, repo, tag, force=True):
                raise RunInfraError(f"the engine refused to tag {image_id} as {repo}:{tag}")

    def run_script(
        self, job: ScriptJob, *, timeout_s: float, on_line: LineSink, accept: Acceptance | None = None
    ) -> ScriptResult:
        """A deps build's step: a command in a container, with the download cache, maybe committed."""
        return run_script(self.conn, job, timeout_s=timeout_s, on_line=on_line, accept=accept)

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        """Build `spec` from a ready tar context; docker-py has no build timeout, so we keep one."""
        return run_build(self.conn, spec, context, timeout_s=timeout_s, on_line=on_line, nocache=nocache)

    @contextmanager
    def _inspection(self, image: str, **kwargs: Any) -> Iterator[Any]:
        """A container of `image` to look inside, labelled for gc and removed on any exit. Not
        containers.run(remove=True): a Ctrl-C during its wait skipped the removal and left the
        container behind (it carries the image's harness.commit label)."""
        container = self.conn.client.containers.create(
            image, labels=self.conn.labels({"harness.purpose": "inspect"}), log_config=log_config(), **kwargs
        )
        try:
            yield container
        finally:
            container.remove(force=True)

    def read_file(self, image: str, path: str) -> str:
        """Read one file out of an image without running anything in it."""
        with (
            engine_errors(f"reading {path} from {image}"),
            self._inspection(image, command=["true"], entrypoint=[]) as container,
        ):
            try:
                stream, _ = container.get_archive(path)
                data = b"".join(stream)
            except docker.errors.NotFound:
                return ""
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member else None
            return handle.read().decode("utf-8", "replace") if handle else ""

    def torch_arch_list(self, image: str) -> list[str] | None:
        """CUDA architectures torch in `image` was built for ([] for a CPU build, None: no torch)."""
        with (
            engine_errors(f"reading torch's arch list in {image}"),
            self._inspection(image, entrypoint=["python", "-c", _ARCH_LIST], network_disabled=True) as container,
        ):
            container.start()
            if int(container.wait().get("StatusCode", 1)) != 0:
                return None
            out = bytes(container.logs(stdout=True, stderr=False))
        try:
            value = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None
        return [str(v) for v in value] if isinstance(value, list) else None

"""Fleet fixtures: one Swarm per test module, the host engine, a tiny image pushed by digest."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import docker
import pytest

from harness.adapters.engine import Engine
from harness.adapters.engine.connection import Connection
from harness.adapters.engine.registry import push
from harness.fleet import digest_ref
from tests.conftest import BASE_IMAGE
from tests.fleet.swarm import Cluster, swarm_cluster, swarm_unavailable
from tests.integration.conftest import engine  # noqa: F401  (the fixture: its teardown removes this session's images)


def unavailable(reason: str) -> None:
    # CI sets HARNESS_REQUIRE_SWARM (it runs as root): there a missing piece fails, never skips.
    if os.environ.get("HARNESS_REQUIRE_SWARM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Cluster]:  # noqa: F811
    """A 3-node Swarm for the module; its teardown raises if anything is left on the host. The
    host engine's session fixture comes with it: the images the CLI tests build (repositories of
    this test session) are removed at the session's end, as the integration tests' are."""
    if reason := swarm_unavailable():
        unavailable(reason)
    with swarm_cluster(tmp_path_factory.mktemp("swarm")) as made:
        yield made


@pytest.fixture(scope="module")
def host() -> Iterator[docker.DockerClient]:
    """The host engine (where images are built), shared with other sessions."""
    with closing(docker.from_env(timeout=300)) as client:
        try:
            client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            unavailable(f"no host engine: {exc}")
        yield client


@pytest.fixture(scope="module")
def probe_image(cluster: Cluster, host: docker.DockerClient) -> Iterator[str]:
    """A tiny image built on the host: the base image plus a file holding the cluster's tag."""
    try:
        host.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"base image {BASE_IMAGE} missing: run scripts/setup-host.sh")
    tag = f"harness-test/{cluster.tag}-swarm:probe"
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo {cluster.tag} > /swarm-probe\n"
    image, _ = host.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True, labels={"harness.test": "swarm"}
    )
    try:
        yield str(image.id)
    finally:
        host.images.remove(tag)


@pytest.fixture(scope="module")
def image_ref(cluster: Cluster, host: docker.DockerClient, probe_image: str) -> str:
    """The probe image pushed to the test registry: its digest reference as the nodes name it."""
    repo = f"harness-test/{cluster.tag}"
    digest = push(Connection(dict(os.environ)), probe_image, registry=cluster.registry_host, repo=repo, tag="probe")
    return digest_ref(cluster.registry_nodes, repo, digest)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """The shared results path: one host folder, bind-mounted on every node (they share the host's
    file system; NFS in production)."""
    folder = tmp_path / "results"
    folder.mkdir()
    return folder

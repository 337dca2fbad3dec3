"""GitUpstream on real git repos in tmp_path: one fetch per command, a fetch that hangs is
infra after the timeout, offline never asks upstream."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.adapters.git_repo import FetchSession, GitUpstream, write_commits
from harness.errors import UpstreamError, UpstreamUnreachable

pytestmark = pytest.mark.integration  # real git child processes (no engine needed)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts and never answers: a fetch from it hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/x.git"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_one_fetch_per_command_shared_by_its_clients(tmp_path: Path) -> None:
    up, mirror = tmp_path / "up", tmp_path / "mirror.git"
    first = write_commits(up, [("a", {"f": "1"})])[0]
    GitUpstream(str(up), mirror)  # clone
    newer = write_commits(up, [("b", {"f": "2"})])[0]
    session = FetchSession()
    one = GitUpstream(str(up), mirror, session)
    assert one.resolve("main").sha == newer
    shutil.move(up, tmp_path / "gone")  # a second fetch would now fail
    two = GitUpstream(str(up), mirror, session)
    assert two.resolve("HEAD").sha == newer
    resolution = two.resolution("HEAD")
    assert resolution is not None and (resolution.before, resolution.new_commits) == (first, 1)
    with pytest.raises(UpstreamError, match="cannot fetch upstream"):  # a fresh command fetches again
        GitUpstream(str(up), mirror).resolve("main")
    assert GitUpstream(str(up), mirror, FetchSession(offline=True)).resolve("main").sha == newer


def test_a_fetch_that_hangs_is_infra_after_the_timeout(tmp_path: Path, silent_server: str) -> None:
    up, mirror = tmp_path / "up", tmp_path / "mirror.git"
    sha = write_commits(up, [("a", {"f": "1"})])[0]
    GitUpstream(str(up), mirror)
    upstream = GitUpstream(silent_server, mirror, FetchSession(timeout_s=1.0))
    assert upstream.resolve(sha[:8]).sha == sha  # a known sha: no fetch
    with pytest.raises(UpstreamUnreachable, match="did not complete in 1 secs"):
        upstream.resolve("main")


def test_offline_without_a_mirror_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(UpstreamError, match="run once without --offline"):
        GitUpstream(str(tmp_path / "up"), tmp_path / "mirror.git", FetchSession(offline=True))


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def test_merged_range_runs_from_the_merge_base_to_the_second_parent(tmp_path: Path) -> None:
    up = tmp_path / "up"
    base, fork = write_commits(up, [("a", {"f": "1"}), ("b", {"f": "2"})])
    _git(up, "checkout", "-q", "-b", "side")
    s1, s2 = write_commits(up, [("s1", {"g": "1"}), ("s2", {"g": "2"})])
    _git(up, "checkout", "-q", "main")
    write_commits(up, [("c", {"f": "3"})])
    _git(up, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = _git(up, "rev-parse", "HEAD")
    _git(up, "checkout", "-q", "--orphan", "other")
    write_commits(up, [("unrelated", {"h": "1"})])
    orphan = _git(up, "rev-parse", "HEAD")
    _git(up, "checkout", "-q", "main")
    _git(up, "merge", "-q", "--allow-unrelated-histories", "-m", "merge other", "other")
    unrelated = _git(up, "rev-parse", "HEAD")
    upstream = GitUpstream(str(up), tmp_path / "mirror.git")
    assert upstream.merged_range(merge) == [fork, s1, s2]
    assert upstream.merged_range(base) == []  # no merge
    assert upstream.merged_range(unrelated) == [orphan]  # no merge base: nothing to start from

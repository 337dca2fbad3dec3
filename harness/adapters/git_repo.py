"""The upstream repository through GitPython. The only module that imports `git`.

A bare mirror clone lives in the state folder. A symbolic ref (branch, tag, HEAD, `main~2`)
means upstream's current value, so it is resolved after one fetch per command (shared by
the command's GitUpstream objects through a FetchSession); a commit id already in the mirror
needs no fetch. A clone or fetch that fails on the network is infra (UpstreamUnreachable).
Trees are read from the object store, never checked out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import git
import git.exc
from filelock import FileLock

from harness.errors import UnsafeTree, UpstreamError, UpstreamUnreachable
from harness.model import Commit
from harness.naming import check_ref
from harness.patches import Patch, PatchSeries, conflict, series_digest
from harness.refs import How, RefResolution, is_network_failure, looks_like_sha, split_ref
from harness.tarball import TreeEntry, unsafe_name

DEFAULT_FETCH_TIMEOUT_S = 60.0
_FOLDER, _GITLINK = 0o40000, 0o160000  # git tree entry modes


class FetchSession:
    """One per command, shared by its GitUpstream objects (one per thread, as git clients are
    not thread-safe): each mirror is fetched at most once, and the refs it had before are kept
    to say what moved. `offline` never asks upstream."""

    def __init__(self, *, offline: bool = False, timeout_s: float = DEFAULT_FETCH_TIMEOUT_S) -> None:
        self.offline, self.timeout_s = offline, timeout_s
        self.lock = threading.Lock()
        # mirror folder -> its refs (name -> commit) before this command's fetch; None: cloned now.
        self.before: dict[str, dict[str, str] | None] = {}


class GitUpstream:
    """Upstream on a local bare mirror of `url` (a URL or a local path)."""

    def __init__(self, url: str, mirror_dir: Path, session: FetchSession | None = None, name: str = "upstream") -> None:
        self.url, self.name = url, name  # name: whose mirror, in what a resolution says ("the wrapper")
        self.mirror_dir = mirror_dir
        self.session = session or FetchSession()
        self._resolutions: dict[str, RefResolution] = {}
        self._patched: dict[tuple[str, str], str] = {}  # (commit, series digest) -> patched tree
        mirror_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.session.lock, FileLock(str(mirror_dir) + ".lock", timeout=600):
            if (mirror_dir / "HEAD").exists():
                self.repo = git.Repo(mirror_dir)
                return
            if self.session.offline:
                raise UpstreamError(
                    f"--offline: no mirror of {url!r} at {mirror_dir} yet: run once without --offline to clone it"
                )
            try:
                self.repo = git.Repo.clone_from(url, mirror_dir, mirror=True)
            except git.exc.GitError as exc:
                raise _reach_error("clone", url, exc) from exc
            self.session.before[str(mirror_dir)] = None

    def close(self) -> None:
        """Stop the git helper processes this client keeps (a long-running watcher makes one per cycle)."""
        self.repo.close()

    def fetch(self) -> None:
        """Fetch once per command (a no-op offline or when another object of the command did)."""
        if self.session.offline:
            return
        with self.session.lock:
            if str(self.mirror_dir) in self.session.before:
                return
            with FileLock(str(self.mirror_dir) + ".lock", timeout=600):
                tips = self._tips()
                try:
                    self.repo.git.fetch(
                        "--prune",
                        self.url,  # the configured URL, not the one the mirror was cloned from
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*",
                        kill_after_timeout=self.session.timeout_s,
                    )
                except git.exc.GitCommandError as exc:
                    raise _reach_error("fetch", self.url, exc) from exc
            self.session.before[str(self.mirror_dir)] = tips

    def _tips(self) -> dict[str, str]:
        """HEAD and every branch and tag (tags peeled to their commit), by full name."""
        listing = self.repo.git.for_each_ref(
            "--format=%(refname) %(objectname) %(*objectname)", "refs/heads", "refs/tags"
        )
        tips = {}
        for line in listing.splitlines():
            name, sha, *peeled = line.split()
            tips[name] = peeled[0] if peeled else sha
        head = self._rev_parse("HEAD")
        return tips | ({"HEAD": head} if head else {})

    def _rev_parse(self, ref: str) -> str | None:
        try:
            return str(self.repo.git.rev_parse("--verify", "--end-of-options", f"{ref}^{{commit}}"))
        except git.exc.GitCommandError as exc:
            if "ambiguous" in _stderr(exc):
                raise UpstreamError(f"ref {ref!r} is ambiguous: give more hex digits") from exc
            return None

    def resolve(self, ref: str) -> Commit:
        check_ref(ref)
        if looks_like_sha(ref) and self._known_sha(ref):
            return self._resolved(ref, "sha")
        self.fetch()
        if self._rev_parse(ref) is None:
            offline = self.session.offline
            hint = " (--offline: upstream was not fetched; drop --offline to look there)" if offline else ""
            raise UpstreamError(f"ref {ref!r} does not name a commit in {self.url}{hint}")
        return self._resolved(ref, "offline" if self.session.offline else "fetched")

    def resolution(self, ref: str) -> RefResolution | None:
        """How `ref` was resolved by this object (which commit, and whether upstream moved)."""
        return self._resolutions.get(ref)

    def _known_sha(self, ref: str) -> bool:
        base = split_ref(ref)[0].lower()
        sha = self._rev_parse(base)
        return sha is not None and sha.startswith(base)

    def _resolved(self, ref: str, how: How) -> Commit:
        sha = self._rev_parse(ref)
        assert sha is not None
        resolution = RefResolution(ref=ref, sha=sha, how=how)
        if how == "fetched" and self.session.before.get(str(self.mirror_dir), {}) is None:
            resolution = RefResolution(ref=ref, sha=sha, how="cloned")
        elif how == "fetched":
            resolution = self._movement(resolution)
        self._resolutions[ref] = dataclasses.replace(resolution, repo=self.name)
        return self.commit(sha)

    def _movement(self, resolution: RefResolution) -> RefResolution:
        """What the ref named before this command's fetch, and how many commits are new."""
        tips = self.session.before.get(str(self.mirror_dir))
        if tips is None:
            return resolution
        base, suffix = split_ref(resolution.ref)
        try:
            # `base` passed check_ref (no leading '-'); --end-of-options would be echoed here.
            full = str(self.repo.git.rev_parse("--symbolic-full-name", base)).strip()
        except git.exc.GitCommandError:
            full = ""
        before = self._rev_parse(tips[full] + suffix) if full in tips else None
        if before is None:
            return resolution
        rewritten = not self.is_ancestor(before, resolution.sha)
        new = int(self.repo.git.rev_list("--count", resolution.sha, "--not", before))
        return RefResolution(
            ref=resolution.ref, sha=resolution.sha, how="fetched", before=before, new_commits=new, rewritten=rewritten
        )

    def commit(self, sha: str) -> Commit:
        obj = self.repo.commit(sha)
        return Commit(
            sha=obj.hexsha,
            message=str(obj.message).strip(),
            author=f"{obj.author.name} <{obj.author.email}>",
            date=obj.committed_datetime.isoformat(),
        )

    def _entries(self, tree: bytes) -> list[tuple[int, str, bytes]]:
        """(mode, name, object id) of a raw tree object. Parsed here, not by GitPython, which
        raises at the first entry it deems unsafe (`..`): such trees must be read to be named."""
        raw = self.repo.odb.stream(tree).read()
        entries = []
        while raw:
            head, raw = raw.split(b"\0", 1)
            mode, name = head.split(b" ", 1)
            entries.append((int(mode, 8), name.decode("utf-8", "backslashreplace"), raw[:20]))
            raw = raw[20:]
        return entries

    def read_file(self, sha: str, path: str) -> bytes | None:
        """The file at `path` in a commit's tree, or in a tree (a patched one, `apply_series`)."""
        mode, obj = _FOLDER, self.repo.tree(sha).binsha
        for part in path.strip("/").split("/"):
            if mode != _FOLDER:
                return None  # a file where the path needs a folder
            found = [(m, child) for m, name, child in self._entries(obj) if name == part]
            if not found:
                return None
            mode, obj = found[0]
        if mode in (_FOLDER, _GITLINK):
            return None
        return bytes(self.repo.odb.stream(obj).read())

    def unsafe_tree(self, sha: str) -> UnsafeTree | None:
        """The entries at `sha` that no checkout may write (`..`, a name holding `/`), as the
        commit's error, or None: git refuses to make them, so the commit was crafted
        (`git hash-object --literally`)."""
        found: list[str] = []
        seen: set[bytes] = set()  # a subtree shared by many paths is read once (no tree bomb)
        stack = [(self.repo.tree(sha).binsha, "")]  # a commit's tree, or a tree itself
        while stack:
            tree, prefix = stack.pop()
            if tree in seen:
                continue
            seen.add(tree)
            try:
                entries = self._entries(tree)
            except (ValueError, git.exc.GitError, OSError):
                continue  # missing from a partial mirror: nothing of it is read either
            for mode, name, child in entries:
                if unsafe_name(name):
                    found.append(prefix + name)
                elif mode == _FOLDER:
                    stack.append((child, f"{prefix}{name}/"))
        return UnsafeTree(sha, tuple(sorted(found))) if found else None

    def iter_tree(self, sha: str, skipped: list[str]) -> Iterator[TreeEntry]:
        """Every file of the tree at `sha`. Blobs missing from a partial mirror go to `skipped`;
        a tree holding an entry no checkout may write is UnsafeTree before anything is read."""
        if unsafe := self.unsafe_tree(sha):
            raise unsafe
        listing = self.repo.git.ls_tree("-r", "-z", "--full-tree", sha)
        for record in filter(None, listing.split("\0")):
            meta, path = record.split("\t", 1)
            mode, kind, blob_sha = meta.split()
            if kind != "blob":
                continue  # submodules (gitlinks) have no content here
            try:
                data = self.repo.odb.stream(bytes.fromhex(blob_sha)).read()
            except (ValueError, git.exc.GitError, OSError):
                skipped.append(path)
                continue
            yield TreeEntry(path=path, mode=int(mode, 8), data=data)

    def apply_series(self, sha: str, series: PatchSeries) -> str:
        """The id of a tree object (written to the mirror: no checkout, no commit) holding the
        tree of commit `sha` with every patch of `series` applied in order. The first patch that
        no longer applies raises PatchConflict naming it, the file and the hunk."""
        key = (sha, series_digest(series))
        if key not in self._patched:
            with _scratch_index() as (env, folder):
                self.repo.git.read_tree(sha, env=env)
                for patch in series.patches:
                    self._apply(patch, env, folder, commit=sha)
                self._patched[key] = str(self.repo.git.write_tree(env=env))
        return self._patched[key]

    def apply_patch(self, tree: str, patch: Patch, *, three_way: bool, commit: str = "") -> str:
        """`tree` (a tree or commit id) with `patch` applied, as a new tree id. `three_way` merges
        from the blobs the patch's `index` lines name (in the mirror when it was made against an
        upstream commit) where its context no longer matches, as `git am -3` would."""
        with _scratch_index() as (env, folder):
            self.repo.git.read_tree(tree, env=env)
            self._apply(patch, env, folder, commit=commit, three_way=three_way)
            return str(self.repo.git.write_tree(env=env))

    def _apply(self, patch: Patch, env: dict[str, str], folder: Path, *, commit: str, three_way: bool = False) -> None:
        path = folder / "patch"
        path.write_bytes(patch.encoded)
        # --whitespace=nowarn: a user's apply.whitespace=error must not turn a patch into a conflict
        flags = ["--cached", "--whitespace=nowarn", f"-p{patch.strip}", *(["--3way"] if three_way else [])]
        status, _, stderr = self.repo.git.apply(
            *flags, str(path), env=env, with_extended_output=True, with_exceptions=False
        )
        if status != 0:
            raise conflict(patch, str(stderr), commit)

    def diff_trees(self, old: str, new: str, prefixes: tuple[str, str]) -> str:
        """The diff from tree `old` to tree `new` as a patch (full blob ids, so a later 3-way
        apply finds them; binary files included), its paths under the given a/ b/ prefixes."""
        src, dst = prefixes
        return str(
            self.repo.git.diff_tree(
                "-p", "--binary", "--full-index", f"--src-prefix={src}", f"--dst-prefix={dst}", old, new,
                strip_newline_in_stdout=False,
            )
        )  # fmt: skip

    def first_parent_range(self, good: str, bad: str) -> list[str]:
        """[good, ..., bad] along bad's first-parent history (merges count as one step)."""
        if not self.is_ancestor(good, bad):
            raise UpstreamError(f"{good[:12]} is not an ancestor of {bad[:12]}: give --good older than --bad")
        return _first_parent_range(self.repo, good, bad)

    def known_commit(self, sha: str) -> Commit | None:
        """The commit `sha` when the mirror holds it (no fetch), else None."""
        full = self._rev_parse(sha) if looks_like_sha(sha) else None
        return self.commit(full) if full else None

    def first_parent_log(self, ref: str, limit: int) -> list[Commit]:
        """The newest `limit` commits of `ref`'s first-parent history, newest first, in one git
        call (the report's timeline: hundreds of commits). Empty when `ref` names nothing here."""
        check_ref(ref)
        sha = self._rev_parse(ref)
        if sha is None:
            return []
        out = self.repo.git.log("--first-parent", f"-n{limit}", "--format=%H%x00%an <%ae>%x00%cI%x00%B%x1e", sha)
        commits = []
        for entry in str(out).split("\x1e"):
            fields = entry.strip("\n").split("\x00")
            if len(fields) == 4:
                commits.append(Commit(sha=fields[0], author=fields[1], date=fields[2], message=fields[3].strip()))
        return commits

    def merged_range(self, merge: str) -> list[str]:
        """[merge base, ..., second parent]: the branch `merge` brought in, along its first
        parents (oldest first). Empty when `merge` has no second parent; only the second parent
        when the two sides share no history."""
        parents = self.repo.commit(merge).parents
        if len(parents) < 2:
            return []
        first, second = parents[0].hexsha, parents[1].hexsha
        try:
            base = str(self.repo.git.merge_base(first, second)).strip()
        except git.exc.GitCommandError:  # unrelated histories: no start to bisect from
            return [second]
        return _first_parent_range(self.repo, base, second)

    def diffstat(self, old: str, new: str) -> list[tuple[str, int, int]]:
        """(path, lines added, lines deleted) for every file that differs."""
        return _numstat(self.repo, old, new)

    def list_files(self, sha: str, folder: str) -> list[str]:
        """File names directly under `folder` at `sha` (empty when the folder does not exist)."""
        out = self.repo.git.ls_tree("--name-only", "-z", sha, f"{folder.rstrip('/')}/")
        return [p.rsplit("/", 1)[-1] for p in out.split("\0") if p]

    def name_status(self, old: str, new: str) -> list[tuple[str, str]]:
        """(A|D|M|T, path) for every file that differs."""
        out = self.repo.git.diff("--name-status", "--no-renames", "-z", old, new)
        parts = [p for p in out.split("\0") if p]
        return [(parts[i][0], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]

    def parent(self, sha: str) -> str | None:
        parents = self.repo.commit(sha).parents
        return parents[0].hexsha if parents else None

    def reachable(self, sha: str) -> bool:
        """Whether any branch or tag still contains `sha` (a force-push can drop commits)."""
        try:
            return bool(self.repo.git.for_each_ref("--contains", sha, "--count=1", "refs/heads", "refs/tags").strip())
        except git.exc.GitCommandError:
            return False

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.repo.git.merge_base("--is-ancestor", older, newer)
        except git.exc.GitCommandError:
            return False
        return True


@contextlib.contextmanager
def _scratch_index() -> Iterator[tuple[dict[str, str], Path]]:
    """A throwaway index (GIT_INDEX_FILE) and a folder for patch files: patches are applied to
    index entries only, so the bare mirror needs no work tree and nothing is left behind."""
    with tempfile.TemporaryDirectory(prefix="harness-patch-") as folder:
        yield {"GIT_INDEX_FILE": str(Path(folder) / "index")}, Path(folder)


def _reach_error(action: str, url: str, exc: git.exc.GitError) -> UpstreamError | UpstreamUnreachable:
    detail = _stderr(exc)
    if is_network_failure(detail):
        return UpstreamUnreachable(
            f"cannot reach upstream {url!r} ({action} failed on the network; the commit was not judged): {detail}. "
            "Retry when the network is back, or use --offline to work from the mirror as last fetched"
        )
    return UpstreamError(f"cannot {action} upstream {url!r}: {detail}. Check upstream.url in harness.yaml")


def _stderr(exc: git.exc.GitError) -> str:
    text = getattr(exc, "stderr", "") or str(exc)
    return " ".join(str(text).split())[:500]


def write_commits(
    path: Path, commits: list[tuple[str, dict[str, str | None]]], *, start: str = "2026-01-05T10:00:00+00:00"
) -> list[str]:
    """Create (or extend) a work-tree repo at `path` with one commit per (message, files) item.

    `files` maps relative paths to their new text, or None to delete them. Dates advance one
    hour per commit from `start`, so histories are reproducible. Returns the new shas.
    """
    import datetime

    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo(path) if (path / ".git").exists() else git.Repo.init(path, initial_branch="main")
    actor = git.Actor("Sample Upstream", "upstream@example.invalid")
    when = datetime.datetime.fromisoformat(start) + datetime.timedelta(hours=len(list(_safe_log(repo))))
    shas = []
    for message, files in commits:
        for rel, text in files.items():
            target = path / rel
            if text is None:
                if target.exists():
                    repo.index.remove([rel], working_tree=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            repo.index.add([rel])
        commit = repo.index.commit(message, author=actor, committer=actor, author_date=when, commit_date=when)
        shas.append(commit.hexsha)
        when += datetime.timedelta(hours=1)
    return shas


def _safe_log(repo: git.Repo) -> Iterator[object]:
    try:
        yield from repo.iter_commits()
    except ValueError:  # no commit yet
        return


def set_gitlink(repo_dir: Path, path: str, sha: str) -> str:
    """Point the submodule gitlink `path` of the repo at `repo_dir` to `sha` (index only,
    no network, no checkout). Returns the repository's top folder."""
    try:
        repo = git.Repo(repo_dir, search_parent_directories=True)
        repo.git.update_index("--add", "--cacheinfo", f"160000,{sha},{path}")
    except (git.exc.GitError, git.exc.InvalidGitRepositoryError) as exc:
        raise UpstreamError(f"cannot update the {path} gitlink in {repo_dir}: {_stderr(exc)}") from exc
    return str(repo.working_tree_dir)


def stage_paths(repo_dir: Path, paths: list[str]) -> None:
    """`git add` these paths of the repository whose top folder is `repo_dir`."""
    try:
        git.Repo(repo_dir).git.add("--", *paths)
    except (git.exc.GitError, git.exc.InvalidGitRepositoryError) as exc:
        raise UpstreamError(f"cannot stage {', '.join(paths)} in {repo_dir}: {_stderr(exc)}") from exc


class GitCheckout:
    """A checkout of the user's own repository, as `ops.pin` touches it (index only)."""

    set_gitlink = staticmethod(set_gitlink)
    stage_paths = staticmethod(stage_paths)


def _first_parent_range(repo: git.Repo, good: str, bad: str) -> list[str]:
    listed = repo.git.rev_list("--first-parent", "--reverse", f"{good}..{bad}")
    return [good, *listed.split()]


def _numstat(repo: git.Repo, old: str, new: str) -> list[tuple[str, int, int]]:
    out = []
    for line in repo.git.diff("--numstat", "--no-renames", old, new).splitlines():
        added, deleted, path = line.split("\t", 2)
        out.append((path, int(added) if added.isdigit() else 0, int(deleted) if deleted.isdigit() else 0))
    return out

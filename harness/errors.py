"""One error hierarchy; `cli.py` is the only place an error becomes an exit code.

Exit codes follow `git bisect run`: 0 good, 1 bad (a real regression), 125 skip (infra:
the commit could not be judged), 128 abort (a usage or configuration error, or a bug in
harness itself: `git bisect run` stops on codes >= 128 instead of calling the commit bad),
130/143 interrupted (SIGINT/SIGTERM).
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_SKIP = 125
EXIT_ABORT = 128  # like git's own fatal errors; anything in 1..127 but 125 would mean "bad commit"
EXIT_USAGE = EXIT_ABORT
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM


class HarnessError(Exception):
    """Base of every error meant for the user: the message says what to do."""

    exit_code: int = EXIT_SKIP


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config file is wrong: the message names the file, the key and what is allowed."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}")


class UpstreamError(UsageError):
    """A ref does not resolve, is ambiguous, or the upstream cannot be read."""


class InfraError(HarnessError):
    """The commit could not be judged for a reason outside it (exit 125, never a regression)."""

    exit_code = EXIT_SKIP


class UpstreamUnreachable(InfraError):
    """A clone or fetch of upstream failed on the network: nothing about the commit is known."""


class EngineUnavailable(InfraError):
    """The Docker engine does not answer."""


class BuildInfraError(InfraError):
    """A build failed for a reason outside the commit: network, timeout, daemon."""


class BuildTimeout(BuildInfraError):
    pass


class RunInfraError(InfraError):
    """The test container could not run: timeout, engine error, no usable GPU."""


class NoGpuError(RunInfraError):
    pass


class StoreError(HarnessError):
    exit_code = EXIT_SKIP


class Interrupted(HarnessError):
    exit_code = EXIT_INTERRUPTED


class BuildFailed(HarnessError):
    """A build step failed; whether the commit or the infra is to blame is decided by the caller."""

    exit_code = EXIT_FAIL

    def __init__(self, stage: str, message: str, log_tail: tuple[str, ...]) -> None:
        self.stage, self.log_tail = stage, log_tail
        super().__init__(f"{stage} image build failed: {message}")


class UnsafeTree(HarnessError):
    """A commit's tree holds entries no checkout may write (`..`, a name with `/`): git refuses
    to make them, so the commit was crafted; it is the commit's failure and nothing is built."""

    exit_code = EXIT_FAIL

    def __init__(self, sha: str, paths: tuple[str, ...]) -> None:
        self.sha, self.paths = sha, paths
        shown = ", ".join(repr(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"the tree{f' of {sha[:12]}' if sha else ''} holds entries no checkout may write: {shown} "
            "(git refuses to make them; the commit was crafted): nothing is built from it"
        )


class PatchConflict(HarnessError):
    """A downstream patch (`wrapper.patches`) no longer applies to an upstream commit: the
    wrapper's maintainer must act (refresh or drop the patch), so it is the commit's verdict,
    `patch_conflict`, exit 1. Names the first patch that fails, its file and hunk, and git's words."""

    exit_code = EXIT_FAIL

    def __init__(self, *, patch: str, file: str, hunk: str, detail: str, commit: str = "") -> None:
        self.patch, self.file, self.hunk, self.detail, self.commit = patch, file, hunk, detail, commit
        where = f" to {file}" if file else ""
        where += f", hunk {hunk}" if hunk else ""
        at = f" at {commit[:12]}" if commit else ""
        remedy = f"; refresh the series with `harness patches refresh --to {commit[:12]}`" if commit else ""
        super().__init__(f"patch_conflict: {patch} no longer applies{where}{at} (git: {detail}){remedy}")


class PromotionRefused(HarnessError):
    """The candidate is not vouched for by a PASS record of the current suite (or is gone)."""

    exit_code = EXIT_FAIL


class LockBusy(InfraError):
    """Another harness process holds the promotion lock past our wait."""


class NotifyError(InfraError):
    """A receiver of watch's events did not take one (refused, unreachable, timed out, exit != 0)."""


class DeployFailed(HarnessError):
    """The service did not become healthy on the new image; production was rolled back."""

    exit_code = EXIT_FAIL


class FleetOutOfLine(InfraError):
    """The fleet's production service does not run what the store says is production (`reconcile`).

    Exit 125, as any infra trouble: nothing is said about a commit (1), and the configuration
    is not at fault (128); a cron running `harness reconcile` hears it as a non-zero exit."""


class BisectError(UsageError):
    """The range cannot be bisected as asked (endpoints do not bound it, nothing to resume)."""


class EndpointInfra(InfraError):
    """A bisect endpoint could not be tested, twice, for a reason outside it (exit 125)."""

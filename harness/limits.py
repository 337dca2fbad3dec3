"""How a test container is confined, and the `run:` keys of harness.yaml that set it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import ConfigError
from harness.yamlio import Section

MEMORY_SHARE = 0.75  # of the engine host's RAM: the rest keeps harness, the engine and the host alive
LIMIT_KEYS = ("memory_gib", "silence_timeout_s", "max_log_mib", "max_output_gib", "pids")


@dataclass(frozen=True, kw_only=True)
class Limits:
    """How a test container is confined (SECURITY.md): every upstream commit is untrusted code."""

    user: str = "10001:10001"  # never root
    read_only_root: bool = True  # the runner copies the upstream tree to the /scratch tmpfs
    tmpfs: tuple[tuple[str, str], ...] = (("/tmp", "size=1g,mode=1777"), ("/scratch", "size=8g,mode=1777"))
    pids: int = 4096  # a fork bomb stops here
    # None: MEMORY_SHARE of the engine host's RAM (a test once took 19 of 23.5 GiB, PASS);
    # 0: no limit, only when run.memory_gib says `unlimited`.
    memory_bytes: int | None = None
    silence_s: float = 0.0  # kill after this long without output; 0: only the wall deadline
    max_log_bytes: int = 64 << 20  # the log file stops growing here
    # What a run may write into its output folder (checked each second, so a fast writer can pass
    # it by one second's writing before it is killed). Suite videos are a few MiB per case.
    max_output_bytes: int = 2 << 30


MEMORY_SHARE = 0.75  # of the engine host's RAM: the rest keeps harness, the engine and the host alive


def limits_from(run: Section) -> Limits:
    """The `run:` section's limits (its other keys are config.py's)."""
    return Limits(
        memory_bytes=_memory(run),
        max_output_bytes=int(run.number("max_output_gib", 2, low=0.001, high=65536) * 2**30),
        silence_s=float(run.integer("silence_timeout_s", 0, low=0, high=86400)),
        max_log_bytes=run.integer("max_log_mib", 64, low=1, high=65536) << 20,
        pids=run.integer("pids", 4096, low=64, high=1 << 22),
    )


def _memory(run: Section) -> int | None:
    """run.memory_gib: a size in GiB, `unlimited` (0 bytes: no limit), absent: a share of the RAM."""
    value = run.data.get("memory_gib")
    if value is None:
        return None
    if value == "unlimited":
        return 0
    if isinstance(value, str):
        raise ConfigError(run.source, run.key("memory_gib"), f"{value!r}: write a size in GiB or `unlimited`")
    if value == 0:
        raise ConfigError(
            run.source,
            run.key("memory_gib"),
            "0 no longer means no limit; write `unlimited` for that, a size in GiB, "
            f"or leave it out for {MEMORY_SHARE:.0%} of the engine host's RAM",
        )
    return int(run.number("memory_gib", 0, low=0.0625, high=65536) * 2**30)

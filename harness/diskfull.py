"""A full disk (or quota) under the state folder is infra (exit 125), said with what was kept.

Every point that writes into the state folder maps ENOSPC/EDQUOT through `mapped`: the run
that hit it is never a commit's failure, and never a traceback that records nothing.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import InfraError

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFull(InfraError):
    """No space left where harness writes: the message says what was being written and what was kept."""


def is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL


@contextmanager
def mapped(what: str, kept: str) -> Iterator[None]:
    """An ENOSPC/EDQUOT inside becomes DiskFull: "disk full <what> (...); <kept>; free space"."""
    try:
        yield
    except OSError as exc:
        if not is_full(exc):
            raise
        raise DiskFull(f"disk full {what} ({exc.strerror}); {kept}; free space there, then run it again") from exc

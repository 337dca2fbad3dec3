"""This process's session label: host and pid, so a later `gc` can tell a dead run's leftovers."""

from __future__ import annotations

import os
import socket


def session_id() -> str:
    """Label of this process's containers: host and pid, so a later gc can tell if it is dead."""
    return f"{socket.gethostname()}:{os.getpid()}"


def session_alive(session: str) -> bool:
    host, _, pid = session.rpartition(":")
    if host != socket.gethostname() or not pid.split("-")[0].isdigit():
        return host != socket.gethostname() and bool(host)  # another host's session: not ours to judge
    try:
        os.kill(int(pid.split("-")[0]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

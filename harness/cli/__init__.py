"""The command line: parse, wire the adapters (world.py), call one use case, render, exit.

The app and its one error boundary live in app.py; each command module registers its
commands on that app, and importing them here is what makes `harness.cli.app` complete.
"""

# ruff: noqa: I001 - the import order is the order of the commands in --help
from harness.cli import run  # noqa: F401 - build-and-test, history, show, backup, sample
from harness.cli import bisect  # noqa: F401
from harness.cli import check  # noqa: F401 - check, doctor, diff, weights
from harness.cli import contract  # noqa: F401 - contract derive
from harness.cli import release  # noqa: F401 - promote, rollback, reconcile, releases, status, gc, pin
from harness.cli import patches  # noqa: F401 - patches refresh
from harness.cli import watch  # noqa: F401 - watch
from harness.cli import site  # noqa: F401 - report
from harness.cli.app import app, main

__all__ = ["app", "main"]

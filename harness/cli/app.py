"""The Typer app, its consoles, the global options of one invocation, and the one error boundary.

`Boundary` below is the only place an error becomes an exit code, for `main()` and for
typer's CliRunner alike (both go through the app's group): `git bisect run harness
build-and-test` works as is. Command modules register on `app`; this module imports none
of them (harness/cli/__init__.py does), and none of the adapters (harness/cli/world.py does).
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException  # typer's vendored click: its usage errors
from typer.core import TyperGroup

from harness.config import load_config
from harness.errors import (
    EXIT_ABORT,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    EXIT_SKIP,
    EXIT_TERMINATED,
    EXIT_USAGE,
    HarnessError,
)

if TYPE_CHECKING:
    from harness.adapters.git_repo import FetchSession

EXIT_CODES = f"""Exit codes (the `git bisect run` protocol):

\b
  {EXIT_PASS:>3} pass
  {EXIT_FAIL:>3} fail: a real regression (the commit is bad)
  {EXIT_SKIP:>3} infra: the commit could not be judged (engine, network, timeout, no GPU)
  {EXIT_ABORT:>3} abort: usage or config error, or a harness bug (git bisect run stops)
  {EXIT_INTERRUPTED:>3} interrupted (Ctrl-C), {EXIT_TERMINATED} terminated (SIGTERM)"""

out = Console(soft_wrap=True)  # messages stay one line: users grep and copy them
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="HARNESS_CONFIG", help="harness.yaml")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class Invocation:
    """The global options of the command being run, and what its adapters share.

    Mutable on purpose: one per process, reset by `Boundary.main` for each invocation
    (CliRunner runs many in one process), filled in by the app's callback, which click calls
    only after `main` began."""

    config: Path
    config_given: bool  # -c or HARNESS_CONFIG: then a missing file is an error, not the defaults
    debug: bool
    offline: bool
    fetches: FetchSession | None  # made by world.py on first use: each mirror is fetched once a command

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.config, self.config_given, self.debug, self.offline = Path("harness.yaml"), False, False, False
        self.fetches = None


state = Invocation()


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `finally` (container removal) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _crash_file(text: str) -> Path:
    """Where the traceback of a harness bug goes: the state folder when the config loads."""
    try:
        folder = load_config(state.config).state_dir / "crashes"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-{os.getpid()}.txt"
        path.write_text(text)
        return path
    except Exception:  # noqa: BLE001 - the config itself may be what is broken: fall back to a temp file
        fd, name = tempfile.mkstemp(prefix="harness-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return Path(name)


def _fail(exc: BaseException) -> int:
    """Say what went wrong in one line, return the exit code for it."""
    if state.debug:
        traceback.print_exception(exc)
    match exc:
        case HarnessError():
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            return exc.exit_code
        case KeyboardInterrupt():
            err.print("interrupted: containers of this run were removed", highlight=False)
            return EXIT_INTERRUPTED
        case Terminated():
            err.print("terminated: containers of this run were removed", highlight=False)
            return EXIT_TERMINATED
    path = _crash_file("".join(traceback.format_exception(exc)))
    what = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever the message holds
    err.print(
        f"[bold red]harness bug:[/] {escape(what)}; traceback written to {escape(str(path))}",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_ABORT


class Boundary(TyperGroup):
    """The one error boundary. Typer's CliRunner and `main()` both call `main` on this group."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exits, and click's usage errors: `main` below maps those
        except (Exception, KeyboardInterrupt, Terminated) as exc:  # noqa: BLE001 - the one boundary
            raise typer.Exit(_fail(exc)) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        *,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        state.reset()  # one invocation each
        # Not a terminal (CI logs, pipes): no wrapping at 80 columns, one table row a line.
        for console in (out, err):
            console.width = None if console.is_terminal else 10_000  # type: ignore[assignment]
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kwargs)
        except ClickException as exc:  # click's own: unknown option, missing argument, bad value
            exc.show()
            code = EXIT_USAGE
        except typer.Abort:  # EOF on a prompt, or Ctrl-C while click parses
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else EXIT_PASS
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=Boundary,
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help=f"Containerized rebuild harness for Headless-Wan2GP.\n\n{EXIT_CODES}",
)


@app.callback()
def _main(
    ctx: typer.Context,
    config: ConfigOpt = Path("harness.yaml"),
    debug: Annotated[bool, typer.Option("--debug", help="tracebacks on errors")] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", envvar="HARNESS_OFFLINE", help="never fetch upstream: refs mean the mirror's"),
    ] = False,
) -> None:
    source = ctx.get_parameter_source("config")
    state.debug, state.config, state.offline = debug, config, offline
    state.config_given = source is not None and source.name != "DEFAULT"  # -c or HARNESS_CONFIG
    state.fetches = None  # a fresh fetch session for this command (world.py makes it)


def main() -> None:
    """The console script: the commands are registered by importing `harness.cli`."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    app()  # Boundary.main exits with the code

"""The command line: parse, build adapters, call one use case, render, return an exit code.

The only place a HarnessError becomes an exit code (0 pass, 1 fail, 125 infra/skip,
2 usage/config, 130/143 interrupted): `git bisect run harness build-and-test` works as is.
"""

from __future__ import annotations

import datetime
import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from harness.ops.build_and_test import World
    from harness.ports import Reporter

from harness.config import Config, load_config
from harness.errors import EXIT_INTERRUPTED, EXIT_USAGE, HarnessError, UsageError
from harness.report import history_table, print_record, record_dict, to_json
from harness.store import Store

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="Containerized rebuild harness for Headless-Wan2GP.",
)
out = Console(soft_wrap=True)  # messages stay one line: users grep and copy them
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="HARNESS_CONFIG", help="harness.yaml")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
state: dict[str, Any] = {"debug": False, "config": Path("harness.yaml")}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `finally` (container removal) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def handles_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            if state["debug"]:
                traceback.print_exc()
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: containers of this run were removed")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Terminated:
            err.print("terminated: containers of this run were removed")
            raise typer.Exit(128 + signal.SIGTERM) from None

    return wrapper  # type: ignore[return-value]


class ConsoleReporter:
    """Steps printed as they happen; build and run output shown in a live status line."""

    def __init__(self, console: Console, verbose: bool) -> None:
        self.console, self.verbose = console, verbose
        self.status = console.status("")

    def step(self, text: str) -> None:
        self.console.print(f"[cyan]==>[/] {text}", highlight=False)

    def line(self, text: str) -> None:
        if self.verbose:
            self.console.print(f"    {text}", highlight=False, markup=False)
        elif text.strip():
            self.status.update(text.strip()[:120])


@app.callback()
def _main(
    config: ConfigOpt = Path("harness.yaml"),
    debug: Annotated[bool, typer.Option("--debug", help="tracebacks on errors")] = False,
) -> None:
    state["debug"], state["config"] = debug, config


def _store() -> Store:
    return Store(load_config(state["config"]).state_dir / "state.db")


def make_world(cfg: Config, reporter: Reporter) -> World:
    """The real adapters behind build-and-test (and the probes of bisect)."""
    from harness.adapters.docker_engine import DockerEngine
    from harness.adapters.git_repo import GitUpstream
    from harness.adapters.gpu import HostGpuProbe
    from harness.adapters.video import probe_video, read_frames, write_sample_clip
    from harness.naming import owner_labels
    from harness.ops.build_and_test import World
    from harness.ops.gc import session_id

    store = Store(cfg.state_dir / "state.db")
    engine = DockerEngine(os.environ, owner=owner_labels(store.state_id(), cfg.state_dir))
    return World(
        upstream=GitUpstream(cfg.upstream_url, cfg.mirror_dir),
        builder=engine,
        runner=engine,
        gpu=HostGpuProbe(),
        probe=probe_video,
        frames=read_frames,
        sample_clip=functools.partial(write_sample_clip, width=496, height=496, frames=81, seed=12345),
        store=store,
        reporter=reporter,
        clock=lambda: datetime.datetime.now(datetime.UTC),
        session=session_id(),
    )


@app.command("build-and-test")
@handles_errors
def build_and_test_cmd(
    refs: Annotated[
        list[str], typer.Argument(help="sha (full or short), branch, tag, HEAD, HEAD~3; several at once: one GPU each")
    ],
    rebuild: Annotated[bool, typer.Option(help="rebuild the commit image even if it exists")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="rebuild env, deps and commit images without the engine's layer cache")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every build/run line")] = False,
    level: Annotated[
        str | None, typer.Option(help="contract | smoke | baseline (default: the deepest this host can run)")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=64, help="several refs on a host without GPUs: runs at once")] = 2,
    json_out: JsonOpt = False,
) -> None:
    """Build the image of REF, run the suite in it, judge the videos, record the run."""
    from harness.ops.build_and_test import LEVELS, build_and_test

    if level is not None and level not in LEVELS:
        raise UsageError(f"--level {level!r}: allowed: {', '.join(LEVELS)}")

    cfg = load_config(state["config"])
    reporter = ConsoleReporter(err, verbose)
    if len(refs) > 1:
        _build_and_test_many(cfg, refs, reporter, level=level, parallel=parallel, json_out=json_out)
    world = make_world(cfg, reporter)
    with reporter.status:
        result = build_and_test(cfg, refs[0], world, rebuild=rebuild, no_cache=no_cache, level=level)
    if json_out:
        out.print_json(to_json(record_dict(result.record)))
    else:
        print_record(out, result.record)
    raise typer.Exit(result.record.verdict.exit_code)


def _build_and_test_many(
    cfg: Config, refs: list[str], reporter: ConsoleReporter, *, level: str | None, parallel: int, json_out: bool
) -> None:
    from harness.adapters.gpu import HostGpuProbe
    from harness.model import Verdict
    from harness.ops.parallel import run_many, scheduler_for

    scheduler = scheduler_for(cfg, HostGpuProbe(), slots=parallel)
    with reporter.status:
        outcomes = run_many(cfg, refs, make_world=lambda: make_world(cfg, reporter), scheduler=scheduler, level=level)
    docs, codes = [], []
    for ref, outcome in outcomes.items():
        if isinstance(outcome, HarnessError):
            err.print(f"[bold red]error:[/] {ref}: {outcome}", highlight=False)
            docs.append({"ref": ref, "error": str(outcome)})
            codes.append(outcome.exit_code)
            continue
        docs.append({"ref": ref, **record_dict(outcome.record)})
        codes.append(outcome.record.verdict.exit_code)
        if not json_out:
            print_record(out, outcome.record)
    if json_out:
        out.print_json(to_json(docs))
    worst = max(codes, key=lambda c: {0: 0, Verdict.ERROR.exit_code: 1, 1: 2}.get(c, 3))
    raise typer.Exit(worst)


@app.command("history")
@handles_errors
def history_cmd(json_out: JsonOpt = False, limit: Annotated[int, typer.Option(min=1, max=10000)] = 50) -> None:
    """Recorded runs, newest first."""
    store = _store()
    records, gone = store.runs(limit), store.unreachable()
    if json_out:
        out.print_json(to_json([record_dict(r) | {"unreachable": r.commit in gone} for r in records]))
    else:
        out.print(history_table(records, gone))


@app.command("show")
@handles_errors
def show_cmd(run: Annotated[str, typer.Argument(help="run id or a unique prefix")], json_out: JsonOpt = False) -> None:
    """One run: verdict per case, with the reasons, paths and timings."""
    record = _store().run(run)
    if record is None:
        raise UsageError(f"no run {run!r} (or the prefix matches several); see `harness history`")
    if json_out:
        out.print_json(to_json(record_dict(record)))
    else:
        print_record(out, record)


@app.command("backup")
@handles_errors
def backup_cmd(target: Annotated[Path, typer.Argument(help="new file for the copy of the run store")]) -> None:
    """Copy the run store (runs, releases, bisects) consistently, even while harness writes."""
    store = _store()
    store.backup(target)
    out.print(f"run store copied to {target} (integrity: {Store(target).integrity()})")


@app.command("sample")
@handles_errors
def sample_cmd(folder: Annotated[Path, typer.Argument(help="where to create the sample upstream")]) -> None:
    """Create the bundled sample upstream (a mini Wan2GP git repo) and a harness.yaml for it."""
    from harness.sample.make import write_sample

    config = write_sample(folder)
    out.print(f"sample upstream and config written; try:\n  harness -c {config} build-and-test main")


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except SystemExit as exc:
        sys.exit(exc.code)
    sys.exit(EXIT_USAGE)


# Register the other commands on `app` (their own modules, for size); importing them is the point.
import harness.cli_bisect  # noqa: E402
import harness.cli_check  # noqa: E402
import harness.cli_release  # noqa: E402

COMMAND_MODULES = (harness.cli_bisect, harness.cli_check, harness.cli_release)

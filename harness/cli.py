"""The command line: parse, build adapters, call one use case, render, return an exit code.

`Boundary` below is the only place an error becomes an exit code, for `main()` and for
typer's CliRunner alike (both go through the app's group): `git bisect run harness
build-and-test` works as is.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
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

if TYPE_CHECKING:
    from harness.adapters.git_repo import GitUpstream
    from harness.ops.build_and_test import World
    from harness.plan import Plan
    from harness.ports import Reporter

from harness.config import Config, load_config, refuse_unchecked_level
from harness.errors import (
    EXIT_ABORT,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    EXIT_SKIP,
    EXIT_TERMINATED,
    EXIT_USAGE,
    HarnessError,
    UsageError,
)
from harness.report import ConsoleReporter, history_table, print_record, record_dict, to_json
from harness.store import Store

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
state: dict[str, Any] = {"debug": False, "config": Path("harness.yaml"), "config_given": False}
__all__ = ["ConsoleReporter", "app", "err", "main", "make_world", "out", "state"]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `finally` (container removal) runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _crash_file(text: str) -> Path:
    """Where the traceback of a harness bug goes: the state folder when the config loads."""
    try:
        folder = load_config(state["config"]).state_dir / "crashes"
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
    if state["debug"]:
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
        state.update(debug=False, config=Path("harness.yaml"), config_given=False)  # one invocation each
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
    from harness.adapters.git_repo import FetchSession

    source = ctx.get_parameter_source("config")
    state["debug"], state["config"] = debug, config
    state["config_given"] = source is not None and source.name != "DEFAULT"  # -c or HARNESS_CONFIG
    state["upstream_session"] = FetchSession(offline=offline)  # one fetch per command, shared


def upstream_for(cfg: Config) -> GitUpstream:
    """The command's upstream client (one per thread); they share the command's one fetch."""
    from harness.adapters.git_repo import FetchSession, GitUpstream

    session = state.setdefault("upstream_session", FetchSession())
    session.timeout_s = cfg.fetch_timeout_s
    return GitUpstream(cfg.upstream_url, cfg.mirror_dir, session)


def config_or_defaults() -> Config:
    """For diagnostics: the config, or the defaults when none was given and none is here."""
    from harness.config import default_config

    if state["config_given"] or state["config"].exists():
        return load_config(state["config"])
    return default_config(Path.cwd())


def _store() -> Store:
    return Store(load_config(state["config"]).state_dir / "state.db")


def make_world(cfg: Config, reporter: Reporter) -> World:
    """The real adapters behind build-and-test (and the probes of bisect)."""
    from harness.adapters.docker_engine import DockerEngine
    from harness.adapters.gpu import HostGpuProbe
    from harness.adapters.video import probe_video, read_frames, write_sample_clip
    from harness.naming import owner_labels
    from harness.ops.build_and_test import World
    from harness.ops.gc import session_id

    store = Store(cfg.state_dir / "state.db")
    engine = DockerEngine(os.environ, owner=owner_labels(store.state_id(), cfg.state_dir))
    return World(
        upstream=upstream_for(cfg),
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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan (what would be built and run) and exit 0")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Build the image of REF, run the suite in it, judge the videos, record the run."""
    from harness.ops.build_and_test import LEVELS, build_and_test
    from harness.plan import load_plan

    if level is not None and level not in LEVELS:
        raise UsageError(f"--level {level!r}: allowed: {', '.join(LEVELS)}")

    cfg = load_config(state["config"])
    refuse_unchecked_level(cfg, level)
    plan = load_plan(cfg, ref=refs[0], level=level, rebuild=rebuild, no_cache=no_cache)
    if dry_run:
        _print_plans([plan.for_ref(ref, plan.level) for ref in refs], json_out=json_out)
    reporter = ConsoleReporter(err, verbose)
    if len(refs) > 1:  # --rebuild and --no-cache apply to a single ref only (as before the plan)
        many = dataclasses.replace(plan, rebuild=False, no_cache=False)
        _build_and_test_many(cfg, many, refs, reporter, parallel=parallel, json_out=json_out)
    world = make_world(cfg, reporter)
    with reporter.status:
        result = build_and_test(plan, world)
    if json_out:
        out.print_json(to_json(record_dict(result.record)))
    else:
        print_record(out, result.record)
    raise typer.Exit(result.record.verdict.exit_code)


def _build_and_test_many(
    cfg: Config, plan: Plan, refs: list[str], reporter: ConsoleReporter, *, parallel: int, json_out: bool
) -> None:
    from harness.adapters.docker_engine import DockerEngine
    from harness.adapters.gpu import HostGpuProbe
    from harness.model import Verdict
    from harness.ops.gc import session_id
    from harness.ops.parallel import reap_session, run_many, scheduler_for

    scheduler = scheduler_for(cfg.gpus, HostGpuProbe(), slots=parallel)
    reap = functools.partial(reap_session, DockerEngine(os.environ), session_id())
    with reporter.status:
        outcomes = run_many(plan, refs, make_world=lambda: make_world(cfg, reporter), scheduler=scheduler, reap=reap)
    docs, codes = [], []
    for ref, outcome in outcomes.items():
        if isinstance(outcome, HarnessError):
            err.print(f"[bold red]error:[/] {escape(f'{ref}: {outcome}')}", highlight=False)
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


def _print_plans(plans: list[Plan], *, json_out: bool) -> None:
    """`--dry-run`: the plan of each ref, nothing built, run or resolved."""
    if json_out:
        docs = [plan.to_dict() for plan in plans]
        out.print_json(to_json(docs[0] if len(docs) == 1 else docs))
    else:
        for plan in plans:
            out.print("\n".join(escape(line) for line in plan.lines()), highlight=False)
    raise typer.Exit(EXIT_PASS)


@app.command("history")
def history_cmd(json_out: JsonOpt = False, limit: Annotated[int, typer.Option(min=1, max=10000)] = 50) -> None:
    """Recorded runs, newest first."""
    store = _store()
    records, gone = store.runs(limit), store.unreachable()
    if json_out:
        out.print_json(to_json([record_dict(r) | {"unreachable": r.commit in gone} for r in records]))
    else:
        out.print(history_table(records, gone))


@app.command("show")
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
def backup_cmd(target: Annotated[Path, typer.Argument(help="new file for the copy of the run store")]) -> None:
    """Copy the run store (runs, releases, bisects) consistently, even while harness writes."""
    if not target.parent.is_dir():
        raise UsageError(f"backup {target}: the folder {target.parent} does not exist; create it or pick another")
    if target.exists():
        raise UsageError(f"backup {target}: it exists; give a new file (a backup never overwrites)")
    store = _store()
    store.backup(target)
    out.print(escape(f"run store copied to {target} (integrity: {Store(target).integrity()})"))


@app.command("sample")
def sample_cmd(folder: Annotated[Path, typer.Argument(help="where to create the sample upstream")]) -> None:
    """Create the bundled sample upstream (a mini Wan2GP git repo) and a harness.yaml for it."""
    from harness.sample.make import write_sample

    config = write_sample(folder)
    out.print(escape(f"sample upstream and config written; try:\n  harness -c {config} build-and-test main"))


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    app()  # Boundary.main exits with the code


# Register the other commands on `app` (their own modules, for size); importing them is the point.
import harness.cli_bisect  # noqa: E402
import harness.cli_check  # noqa: E402
import harness.cli_release  # noqa: E402

COMMAND_MODULES = (harness.cli_bisect, harness.cli_check, harness.cli_release)

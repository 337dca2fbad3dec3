"""The CLI's one error boundary, its exit codes, and output a person can trust (harness/cli/)."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_SKIP, EXIT_USAGE
from harness.model import RunRecord, Verdict
from harness.report import ConsoleReporter, history_table, print_record
from harness.store import Store

CONFIG = "upstream: {url: ./up}\nrun: {gpu: none}\nsuite: {cases: [{id: a, model: m}]}\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "up").mkdir()
    path = tmp_path / "harness.yaml"
    path.write_text(CONFIG)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def record(summary: str) -> RunRecord:
    return RunRecord(
        run_id="20260101-000000-abcdef",
        commit="a" * 40,
        image_id="sha256:" + "b" * 64,
        image_tag="harness/x:c",
        deps_key="k",
        suite="s",
        suite_hash="h",
        verdict=Verdict.FAIL,
        summary=summary,
        cases=(),
        started="2026-01-01T00:00:00+00:00",
        build_seconds=1.0,
        run_seconds=2.0,
        run_dir="/tmp/r",
    )


def _boom(*_args: object, **_kwargs: object) -> list[RunRecord]:
    raise RuntimeError("store exploded [really]")


def test_an_unexpected_exception_aborts_with_one_line_and_a_traceback_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "runs", _boom)
    code, _, stderr = invoke("-c", str(config), "history")
    assert code == EXIT_USAGE  # the abort code: `git bisect run` stops instead of marking the commit bad
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "RuntimeError: store exploded [really]" in lines[0]
    match = re.search(r"traceback written to (\S+)$", lines[0])
    assert match, lines[0]
    written = Path(match[1]).read_text()
    assert "Traceback" in written and "_boom" in written and "store exploded" in written
    assert Path(match[1]).is_relative_to(config.parent / ".harness")


def test_debug_prints_the_full_traceback(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "runs", _boom)
    code, _, stderr = invoke("--debug", "-c", str(config), "history")
    assert code == EXIT_USAGE
    assert "Traceback (most recent call last)" in stderr and "_boom" in stderr


def _interrupt(*_args: object, **_kwargs: object) -> list[RunRecord]:
    raise KeyboardInterrupt


def test_keyboard_interrupt_is_130_with_a_message(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "runs", _interrupt)
    code, _, stderr = invoke("-c", str(config), "history")
    assert code == 130
    assert stderr.startswith("interrupted")


@pytest.mark.parametrize(
    "args",
    [("--no-such-option",), ("build-and-test",), ("history", "--limit", "many"), ("no-such-command",)],
)
def test_click_usage_errors_exit_with_the_usage_code(config: Path, args: tuple[str, ...]) -> None:
    code, _, stderr = invoke("-c", str(config), *args)
    assert code == EXIT_USAGE, stderr
    assert "Error" in stderr


def test_help_has_the_exit_code_table() -> None:
    code, stdout, _ = invoke("--help")
    assert code == 0
    text = " ".join(stdout.split())
    for entry in ("0 pass", "1 fail", f"{EXIT_SKIP} infra", f"{EXIT_USAGE} abort", "130", "143"):
        assert entry in text, stdout


def test_harness_error_messages_are_printed_literally(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, stderr = invoke("-c", str(config), "show", "[bold]x[/]")
    assert code == EXIT_USAGE
    assert "[bold]x[/]" in stderr


def test_bracketed_data_survives_the_record_and_history_tables() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400)
    summary = "forced [forced past: FAIL at baseline] filter ^rembg\\[gpu\\]"
    print_record(console, record(summary))
    console.print(history_table([record(summary)]))
    text = buffer.getvalue()
    assert text.count(summary) == 2, text


def test_reporter_steps_and_lines_print_brackets_literally() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400)
    reporter = ConsoleReporter(console, verbose=True)
    reporter.step("filter '^rembg\\[gpu\\]': drop")
    reporter.line("[red]not markup[/red]")
    text = buffer.getvalue()
    assert "'^rembg\\[gpu\\]'" in text and "[red]not markup[/red]" in text


def test_release_lines_keep_the_forced_past_note() -> None:
    from harness.cli.release import _release_line
    from harness.model import Release

    release = Release(
        revision=3,
        action="promote",
        image_id="sha256:" + "c" * 64,
        commit="d" * 40,
        from_image_id="",
        run_id="",
        created="t",
        user="u",
        reason="hotfix [forced past: FAIL]",
        forced=True,
        based_on=3,
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=400)
    console.print(_release_line(release))
    assert "hotfix [forced past: FAIL]" in buffer.getvalue()
    assert "digest" not in buffer.getvalue()  # a local deploy has none


def test_releases_deployed_to_a_fleet_show_their_digest() -> None:
    import dataclasses

    from harness.cli.release import _release_line, releases_table
    from tests.unit.fakes import release

    local = release(1, "sha256:" + "c" * 64, "d" * 40)
    fleet = dataclasses.replace(release(2, "sha256:" + "e" * 64, "f" * 40), image_digest="sha256:" + "9" * 64)
    buffer = io.StringIO()
    console = Console(file=buffer, width=400)
    console.print(_release_line(fleet))
    console.print(releases_table([local]))
    assert "digest 999999999999" in buffer.getvalue() and "digest" not in buffer.getvalue().split("\n", 1)[1]
    buffer.truncate(0)
    console.print(releases_table([local, fleet]))
    rows = [line for line in buffer.getvalue().splitlines() if "cccccccccccc" in line or "eeeeeeeeeeee" in line]
    assert "digest" in buffer.getvalue() and "999999999999" in rows[1] and " - " in rows[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_progress_lines_name_the_step_and_the_elapsed_time() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=400)
    clock = FakeClock()
    reporter = ConsoleReporter(console, verbose=False, clock=clock)
    reporter.step("build env image [cpu]")
    reporter.line("Step 4/9 : RUN pip install torch")
    clock.now += 12
    reporter.status.tick()
    text = buffer.getvalue()
    last = text.strip().splitlines()[-1]
    assert "build env image [cpu]" in last and "12 s" in last and "pip install torch" in last, text


def test_without_a_terminal_the_heartbeat_prints_while_work_runs() -> None:
    printed = threading.Event()

    class Watched(io.StringIO):
        def write(self, s: str) -> int:
            if "still working" in s:
                printed.set()
            return super().write(s)

    buffer = Watched()
    console = Console(file=buffer, force_terminal=False, width=400)
    reporter = ConsoleReporter(console, verbose=False, interval_s=0.01)
    reporter.step("run suite")
    with reporter.status:
        assert printed.wait(timeout=30), buffer.getvalue()


def test_tables_are_not_wrapped_when_stdout_is_not_a_terminal(config: Path) -> None:
    summary = "a summary long enough to be wrapped at eighty columns " * 4
    store = Store(config.parent / ".harness" / "state.db")
    store.add_run(record(summary.strip()))
    store.close()
    code, stdout, stderr = invoke("-c", str(config), "history")
    assert code == 0, stderr
    assert summary.strip() in stdout, stdout


def test_show_says_a_fleet_runs_node_and_digest_and_json_has_both(config: Path) -> None:
    import dataclasses
    import json

    digest = "sha256:" + "9" * 64
    fleet = dataclasses.replace(
        record("ran on the fleet"), image_id="", image_tag="", node="n0de1d", image_digest=digest
    )
    local = dataclasses.replace(record("ran here"), run_id="20260101-000001-abcdef", image_id="", image_tag="")
    store = Store(config.parent / ".harness" / "state.db")
    store.add_run(fleet)
    store.add_run(local)
    store.close()
    code, stdout, stderr = invoke("-c", str(config), "show", fleet.run_id)
    assert code == 0, stderr
    assert f"on the fleet: node n0de1d, image digest {digest}" in stdout, stdout
    code, stdout, stderr = invoke("-c", str(config), "show", local.run_id)
    assert code == 0 and "on the fleet" not in stdout, stdout + stderr
    code, stdout, stderr = invoke("-c", str(config), "show", fleet.run_id, "--json")
    doc = json.loads(stdout)
    assert code == 0 and (doc["node"], doc["image_digest"]) == ("n0de1d", digest)

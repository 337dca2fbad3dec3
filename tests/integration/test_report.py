"""`harness report` over a store the test builds with the real engine (passes, a drift, a fail,
a contract check, a release, a bisect with its culprit), opened page by page in Debian's
chromium: no console error, every image and video loads, every link resolves. Screenshots of the
index and a run page are kept in .test-artifacts/report/ (or $HARNESS_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.adapters.git_repo import write_commits
from harness.config import load_config
from harness.sample.make import Files, broken_import, template
from tests.browser import Browser, crawl
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
HOSTILE_SUBJECT = '<script>document.title="owned"</script> speed up "decode" & more'
ARTIFACTS = Path(os.environ.get("HARNESS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".test-artifacts"))


def _history() -> list[tuple[str, Files]]:
    wgp = template()["wgp.py"] or ""
    return [
        ("base", template()),
        (HOSTILE_SUBJECT, {"wgp.py": f"{wgp}\n# commit 1\n"}),
        ("stuff", {"wgp.py": f"{broken_import(wgp)}\n# commit 2\n"}),
        ("more stuff", {"wgp.py": f"{broken_import(wgp)}\n# commit 3\n"}),
    ]


def _ok(project: Project, *args: str) -> str:
    code, output = project.run(*args)
    assert code in (0, 1), output
    return output


def test_the_report_of_real_runs_opens_clean_in_a_browser(project: Project, chromium: Browser) -> None:
    c0, c1, c2, c3 = write_commits(project.upstream, _history())
    _ok(project, "build-and-test", c0)
    _ok(project, "build-and-test", c1)  # compared with c0 (last-good): a drift, with its reference
    _ok(project, "promote", c0)
    _ok(project, "build-and-test", "--level", "contract", c3)
    code, output = project.run("bisect", "--good", c1, "--bad", c3)
    assert code == 0 and c2[:12] in output, output
    code, output = project.run("report")
    assert code == 0, output
    site = load_config(project.config).state_dir / "report"
    index = (site / "index.html").as_uri()
    assert output.strip().endswith(index)

    checks = crawl(chromium, index)
    assert [p for c in checks for p in c.problems] == []
    crawled = {c.url.removeprefix(site.as_uri() + "/") for c in checks}
    runs = [r.run_id for r in project.store().runs(100)]
    assert {f"runs/{r}/index.html" for r in runs} <= crawled and "plots.html" in crawled
    assert f"commits/{c2}.html" in crawled and any(u.startswith("bisects/") for u in crawled)
    videos = sum(1 for _ in site.glob("runs/*/c*.webm"))
    assert videos >= 2  # the sample writes MPEG-4 part 2: browsers get a VP9 copy, and it loaded

    chromium.driver.get(index)
    assert chromium.driver.title != "owned"  # upstream's <script> is text on the page
    assert HOSTILE_SUBJECT in chromium.driver.find_element("tag name", "body").text
    drift_run = next(r for r in project.store().runs(100) if r.commit == c1 and r.level == "baseline")
    page = site / "runs" / drift_run.run_id / "index.html"
    assert "compared with" in page.read_text() and drift_run.cases[0].drift_ref
    chromium.screenshot(index, ARTIFACTS / "report" / "index.png")
    chromium.screenshot(page.as_uri(), ARTIFACTS / "report" / "run.png")
    assert (ARTIFACTS / "report" / "run.png").stat().st_size > 10_000

    code, output = project.run("report")  # nothing changed: nothing rewritten
    assert code == 0 and "0 file(s) written" in output, output

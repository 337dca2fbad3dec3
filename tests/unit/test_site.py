"""The report's pages (harness/site): what the index, run, commit and bisect pages say, that text
from upstream renders as text, that every link names something the site holds, and that a
render rewrites only what changed."""

from __future__ import annotations

import dataclasses
import html.parser
import posixpath
from typing import Any

from harness.model import BisectSession, BisectStep, CaseResult, Commit, Pointer, Verdict, VideoFacts
from harness.site.detail import named_commits
from harness.site.facts import Bisect, CaseMedia, ImageFacts, Impact, RunFiles, SiteInput
from harness.site.pages import pages
from harness.site.refs import Page, run_page, safe_name
from harness.site.render import plan_site, render
from tests.unit.fakes import record, release, sha

HOSTILE = '<script>alert("x")</script> & fix'
QUOTED_CASE = 'it\'s "quoted" <b>'


def commit(letter: str, message: str = "") -> Commit:
    return Commit(sha=sha(letter), message=message or f"commit {letter}\n\nbody", author="A <a@x>", date="2026-01-0T")


def video_case(case_id: str, verdict: Verdict = Verdict.PASS, **kw: Any) -> CaseResult:
    facts = VideoFacts(path="/r/out/v.mp4", exists=True, decodes=True, frames=9, width=64, height=48, size_bytes=2296)
    case = CaseResult(
        case_id=case_id,
        model="t2v",
        runner_status="success",
        verdict=verdict,
        reasons=(),
        output_path="/r/out/v.mp4",
        generation_time=0.9,
        video=facts,
    )
    return dataclasses.replace(case, **kw)


def site(**changes: Any) -> SiteInput:
    """Three commits a, b (fail), c; runs at two levels; a release of a; a bisect naming b."""
    timeline = (commit("c"), commit("b", HOSTILE), commit("a"))
    runs = (
        dataclasses.replace(
            record(sha("c"), "sha256:cc", "r6"), cases=(video_case("t2v", drift_psnr=31.5, drift_ref="r2"),)
        ),
        dataclasses.replace(
            record(sha("b"), "sha256:bb", "r4", Verdict.FAIL),
            cases=(video_case(QUOTED_CASE, Verdict.FAIL, reasons=("constant video",)),),
        ),
        record(sha("b"), "", "r3", Verdict.FAIL, level="contract"),
        dataclasses.replace(record(sha("a"), "sha256:aa", "r2"), cases=(video_case("t2v"),)),
    )
    media = {
        ("r6", "t2v"): CaseMedia(sheet="runs/r6/c0-sheet.png", video="runs/r6/c0.mp4"),
        ("r4", QUOTED_CASE): CaseMedia(sheet="runs/r4/c0-sheet.png", video="runs/r4/c0.webm"),
        ("r2", "t2v"): CaseMedia(sheet="runs/r2/c0-sheet.png", video="runs/r2/c0.mp4"),
    }
    session = BisectSession(
        id="bis-1",
        good=sha("a"),
        bad=sha("c"),
        level="baseline",
        suite_hash="s",
        started="t0",
        finished="t1",
        answer={"first_bad": sha("b")},
    )
    steps = (
        BisectStep(commit=sha("b"), verdict=Verdict.FAIL, source="reused", seconds=1.5, run_id="r4", summary=HOSTILE),
    )
    impact = Impact(
        doc={
            "checklist": ["update wgp.generate_video's call"],
            "files": [["M", "wgp.py"]],
            "requirements": {
                "added": ["smplfitter"],
                "removed": [],
                "repinned": [["torch", "torch==2.6", "torch==2.7"]],
            },
            "contract": {"holds": False},
        },
        markdown="# impact",
    )
    base = SiteInput(
        title="harness/x",
        ref="main",
        timeline=timeline,
        commits={c.sha: c for c in timeline},
        runs=runs,
        releases=(release(1, "sha256:aa", sha("a")),),
        last_good=Pointer(name="last-good", image_id="sha256:cc", commit=sha("c"), run_id="r6", updated="t"),
        bisects=(Bisect(session=session, steps=steps, impact=impact),),
        images={
            "sha256:cc": ImageFacts(
                image_id="sha256:cc",
                present=True,
                size_bytes=3_000_000,
                labels=(
                    ("harness.pip-freeze", "av==12 numpy==2"),
                    ("harness.recipe", "cpu"),
                    ("harness.lock", "av==12\nNumPy==2\n"),
                    ("harness.deps-base", "d" * 64),
                ),
            )
        },
        media=media,
        files={"r6": RunFiles(links=(("container log", "runs/r6/container.log.txt"),))},
        work=("queued: " + sha("d")[:12],),
    )
    return dataclasses.replace(base, **changes)


def by_path(inp: SiteInput) -> dict[str, Page]:
    return {p.path: p for p in pages(inp)}


class _Parsed(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str]] = []  # (attribute, value)
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [(k, v) for k, v in attrs if k in ("href", "src") and v is not None]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: Page) -> _Parsed:
    parser = _Parsed()
    parser.feed(render(page))
    return parser


def test_upstream_text_and_quoted_case_ids_render_as_text_never_as_markup() -> None:
    rendered = by_path(site())
    for path in ("index.html", run_page("r4"), "commits/" + sha("b") + ".html", "bisects/bis-1.html"):
        page = parsed(rendered[path])
        assert "script" not in page.tags, path  # the one <script> is upstream's text, shown as text
        assert "b" not in page.tags or path != run_page("r4")
    index = parsed(rendered["index.html"])
    assert HOSTILE.splitlines()[0] in "".join(index.text)
    run = parsed(rendered[run_page("r4")])
    assert QUOTED_CASE in "".join(run.text)
    assert "&lt;script&gt;" in render(rendered["index.html"])


def test_every_link_and_source_names_a_page_or_a_file_the_site_holds() -> None:
    inp = site()
    rendered = by_path(inp)
    held = set(rendered) | {"style.css"} | {m.sheet for m in inp.media.values()} | {m.video for m in inp.media.values()}
    held |= {href for f in inp.files.values() for _, href in f.links}
    for path, page in rendered.items():
        for attr, ref in parsed(page).refs:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref.split("#")[0]))
            assert target in held, f"{path}: {attr}={ref} names nothing the site holds"


def test_index_shows_each_commits_verdict_per_level_and_the_markers() -> None:
    context = by_path(site())["index.html"].context
    rows = {row["sha"]: row for row in context["rows"]}
    assert [row["short"] for row in context["rows"]] == [sha("c")[:12], sha("b")[:12], sha("a")[:12]]
    contract, smoke, baseline = rows[sha("b")]["cells"]
    assert (contract["verdict"], smoke, baseline["verdict"]) == ("fail", None, "fail")
    assert rows[sha("b")]["classes"] == ["has-fail"] and rows[sha("c")]["classes"] == ["has-pass"]
    assert rows[sha("a")]["marks"] == ["production"] and rows[sha("c")]["marks"] == ["last-good"]
    assert context["releases"][0]["commit"]["sha"] == sha("a") and context["work"] == ["queued: " + sha("d")[:12]]
    assert context["bisects"][0]["culprit"]["sha"] == sha("b")


def test_the_index_shows_the_digest_a_fleet_release_was_rolled_to() -> None:
    fleet = dataclasses.replace(release(2, "sha256:cc", sha("c")), image_digest="sha256:" + "e" * 64)
    rendered = by_path(site(releases=(*site().releases, fleet)))["index.html"]
    assert [r["digest"] for r in rendered.context["releases"]] == ["sha256:" + "e" * 64, ""]
    assert f'<code title="sha256:{"e" * 64}">sha256:eeeeeeeeeeee</code>' in render(rendered)


def test_commits_with_runs_off_the_timeline_are_listed_after_it() -> None:
    off = dataclasses.replace(record(sha("z"), "sha256:zz", "r9"), started="2027-01-01T00:00:00+00:00")
    inp = site(runs=(off, *site().runs))
    context = by_path(inp)["index.html"].context
    assert [row["sha"] for row in context["others"]] == [sha("z")]
    assert sha("z") in named_commits(inp) and "commits/" + sha("z") + ".html" in by_path(inp)


def test_a_run_page_shows_its_media_and_the_compared_runs_sheet_beside_it() -> None:
    case = by_path(site())[run_page("r6")].context["cases"][0]
    assert (case["sheet"], case["video_src"], case["video_type"]) == (
        "runs/r6/c0-sheet.png",
        "runs/r6/c0.mp4",
        "video/mp4",
    )
    assert case["psnr"] == "31.5 dB" and case["frames"] == "9" and case["resolution"] == "64x48"
    assert case["reference"] == {"run": "r2", "href": run_page("r2"), "sheet": "runs/r2/c0-sheet.png", "note": ""}
    webm = by_path(site())[run_page("r4")].context["cases"][0]
    assert webm["video_type"] == "video/webm" and webm["reasons"] == ["constant video"]


def test_a_drifting_case_from_an_older_harness_says_its_reference_is_unknown() -> None:
    inp = site()
    old = dataclasses.replace(inp.runs[0], cases=(video_case("t2v", drift_psnr=20.0),))
    reference = by_path(site(runs=(old, *inp.runs[1:])))[run_page("r6")].context["cases"][0]["reference"]
    assert reference["href"] == "" and "not recorded" in reference["note"]


def test_the_commit_page_lists_its_runs_images_and_contract_check() -> None:
    context = by_path(site())["commits/" + sha("c") + ".html"].context
    (image,) = context["images"]
    assert image["freeze"] == ["av==12", "numpy==2"]
    assert image["labels"] == [("harness.deps-base", "d" * 64), ("harness.recipe", "cpu")]  # the lock apart:
    assert image["lock"] == ["av==12", "numpy==2"] and image["lock_origin"] == "delta from deps " + "d" * 16
    assert image["size"] == "3.0 MB" and image["present"]
    b = by_path(site())["commits/" + sha("b") + ".html"].context
    assert b["contract"]["id"] == "r3" and [r["id"] for r in b["runs"]] == ["r4", "r3"]
    assert b["images"][0]["note"] == "not asked"  # no facts for it: said, not invented


def test_a_fleet_runs_node_and_digest_are_on_its_run_and_commit_pages() -> None:
    digest = "sha256:" + "9" * 64
    inp = site()
    fleet = dataclasses.replace(inp.runs[0], node="n0de1d", image_digest=digest)
    pages_ = by_path(site(runs=(fleet, *inp.runs[1:])))
    text = "".join(parsed(pages_[run_page("r6")]).text)
    assert "n0de1d" in text and digest in text
    commit_text = "".join(parsed(pages_["commits/" + sha("c") + ".html"]).text)
    assert "n0de1d" in commit_text and f"registry digest {digest}" in commit_text
    local = by_path(site())  # a local run: neither row, no node column
    assert "registry digest" not in "".join(parsed(local[run_page("r6")]).text)
    assert "node" not in "".join(parsed(local["commits/" + sha("c") + ".html"]).text)


def test_the_bisect_page_has_its_steps_culprit_and_impact() -> None:
    context = by_path(site())["bisects/bis-1.html"].context
    assert context["bisect"]["culprit"]["sha"] == sha("b")
    assert context["steps"][0] | {"commit": None} == {
        "commit": None,
        "verdict": "fail",
        "source": "reused",
        "seconds": "1.5",
        "run": run_page("r4"),
        "summary": HOSTILE,
    }
    impact = context["impact"]
    assert impact["holds"] is False and impact["checklist"] == ["update wgp.generate_video's call"]
    assert impact["requirements"] == ["added smplfitter", "torch==2.6 -> torch==2.7"] and impact["files"] == [
        "M wgp.py"
    ]


def test_an_unrecorded_step_run_is_not_linked() -> None:
    inp = site()
    step = dataclasses.replace(inp.bisects[0].steps[0], run_id="gone")
    inp = site(bisects=(dataclasses.replace(inp.bisects[0], steps=(step,)),))
    assert by_path(inp)["bisects/bis-1.html"].context["steps"][0]["run"] == ""


def test_a_second_render_of_the_same_data_writes_nothing_and_a_new_run_only_what_it_changes() -> None:
    inp = site()
    first = plan_site(pages(inp), {}, {})
    assert len(first.write) == len(pages(inp)) + 1  # and the style sheet
    again = plan_site(pages(inp), {}, first.manifest)
    assert again.write == () and again.remove == ()
    newer = dataclasses.replace(record(sha("c"), "sha256:cc", "r7"), started="2026-02-01T00:00:00+00:00")
    more = plan_site(pages(site(runs=(newer, *inp.runs))), {}, first.manifest)
    assert sorted(path for path, _ in more.write) == sorted(
        ["index.html", "plots.html", run_page("r7"), "commits/" + sha("c") + ".html"]
    )


def test_what_a_render_no_longer_makes_is_removed() -> None:
    inp = site()
    first = plan_site(pages(inp), {"runs/r2/c0.mp4": "/state/runs/r2/out/v.mp4"}, {})
    later = plan_site(pages(site(runs=inp.runs[:3])), {}, first.manifest)
    assert run_page("r2") in later.remove and "runs/r2/c0.mp4" in later.remove


def test_ids_that_are_not_plain_names_never_reach_a_path_as_they_are() -> None:
    assert safe_name("20261206-181730-3c0ff1") == "20261206-181730-3c0ff1"
    for hostile in ("../../etc", "a/b", "", ".hidden", 'q"uote'):
        name = safe_name(hostile)
        assert "/" not in name and not name.startswith(".") and name.startswith("x-")

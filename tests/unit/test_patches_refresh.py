"""`patches refresh` as a use case over the fakes (harness/ops/patches.py); real git: tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import DEFAULT_CONTRACT, load_contract
from harness.errors import UsageError
from harness.ops.diff import diff, markdown
from harness.ops.patches import refresh
from harness.patches import Patch, PatchSeries, load_series
from tests.unit.fakes import FakeUpstream, PatchFate, sha_of

BODY = "diff --git a/{f} b/{f}\n--- a/{f}\n+++ b/{f}\n@@ -1 +1 @@\n-x\n+y\n"


def series(*names: str, directory: str = "") -> PatchSeries:
    prefix = f"{directory}/" if directory else ""
    patches = tuple(
        Patch(
            name=n, text=f"Subject: {n}\n---\n" + BODY.format(f=prefix + "wgp.py"), strip=2 if prefix else 1,
            directory=directory,
        )
        for n in names
    )  # fmt: skip
    return PatchSeries(folder=Path("p"), patches=patches)


def upstream(fates: dict[str, PatchFate] | None = None) -> FakeUpstream:
    return FakeUpstream(["c1", "c2"], patch_fates=fates, expect={"resolve", "commit", "apply_patch", "diff_trees"})


def test_every_patch_goes_on_in_order_and_the_series_is_written(tmp_path: Path) -> None:
    up = upstream({"0002-b.patch": "three_way"})
    report = refresh(up, "c2", series("0001-a.patch", "0002-b.patch"), out_dir=None, state_dir=tmp_path)
    assert report.ok and [(p.patch, p.outcome) for p in report.patches] == [
        ("0001-a.patch", "applied"),
        ("0002-b.patch", "refreshed"),
    ]
    after_a = sha_of(f"{sha_of('c2')}+0001-a.patch")
    assert up.applied == [
        (sha_of("c2"), "0001-a.patch", False),
        (after_a, "0002-b.patch", False),  # on the tree with the first one applied
        (after_a, "0002-b.patch", True),
    ]
    assert report.out_dir == tmp_path / f"patches-refreshed-{sha_of('c2')[:12]}"
    written = sorted(p.name for p in report.out_dir.iterdir())
    assert written == ["0001-a.patch", "0002-b.patch", "series"]
    assert (report.out_dir / "0002-b.patch").read_text().startswith("Subject: 0002-b.patch\n---\ndiff --git a/wgp.py")
    again = load_series(report.out_dir, "Wan2GP")  # what was written reads back as a series
    assert [p.name for p in again.patches] == ["0001-a.patch", "0002-b.patch"]


def test_a_wrapper_made_series_is_written_under_the_wrappers_folder_again(tmp_path: Path) -> None:
    wrapped = series("a.patch", directory="Wan2GP")
    report = refresh(upstream(), "c2", wrapped, out_dir=tmp_path / "o", state_dir=tmp_path)
    assert "diff --git a/Wan2GP/wgp.py b/Wan2GP/wgp.py" in (tmp_path / "o" / "a.patch").read_text()
    assert report.out_dir == tmp_path / "o"


def test_a_conflict_is_listed_later_patches_are_still_tried_and_nothing_is_written(tmp_path: Path) -> None:
    up = upstream({"0001-a.patch": "conflict"})
    out = tmp_path / "o"
    report = refresh(up, "c2", series("0001-a.patch", "0002-b.patch"), out_dir=out, state_dir=tmp_path)
    assert not report.ok and report.out_dir is None
    first, second = report.patches
    assert (first.outcome, first.file, first.hunk) == ("conflict", "wgp.py", "@@ -1,3 +1,4 @@")
    assert second.outcome == "applied"
    assert up.applied[-1] == (sha_of("c2"), "0002-b.patch", False)  # without the one that conflicts
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_patch_upstream_already_has_is_left_out(tmp_path: Path) -> None:
    class Taken(FakeUpstream):
        """The first patch changes nothing where it goes (upstream made the same change)."""

        def diff_trees(self, old: str, new: str, prefixes: tuple[str, str]) -> str:
            taken = self.applied[-1][1] == "0001-a.patch"
            return "" if taken else super().diff_trees(old, new, prefixes)

    up = Taken(["c2"])
    report = refresh(up, "c2", series("0001-a.patch", "0002-b.patch"), out_dir=tmp_path / "o", state_dir=tmp_path)
    assert [p.outcome for p in report.patches] == ["empty", "applied"]
    assert (tmp_path / "o" / "series").read_text().splitlines()[1:] == ["0002-b.patch"]


def test_an_earlier_series_is_replaced_whole_but_other_files_are_never_touched(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "old.patch").write_text("old")
    (out / "series").write_text("old.patch\n")
    refresh(upstream(), "c2", series("a.patch"), out_dir=out, state_dir=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["a.patch", "series"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no staging folder left
    (out / "notes.md").write_text("mine")
    with pytest.raises(UsageError) as info:
        refresh(upstream(), "c2", series("a.patch"), out_dir=out, state_dir=tmp_path)
    assert "notes.md" in str(info.value) and (out / "notes.md").exists()


def test_diff_lists_the_patches_touching_files_that_changed() -> None:
    up = FakeUpstream(["c1", "c2"], files={"c2": {"wgp.py": b"changed\n", "requirements.txt": b"numpy\n"}})
    touching = Patch(name="0001-a.patch", text=BODY.format(f="wgp.py"), strip=1)
    elsewhere = Patch(name="0002-b.patch", text=BODY.format(f="shared/api.py"), strip=1)
    report = diff(
        up,
        "c1",
        "c2",
        load_contract(DEFAULT_CONTRACT),
        overlays=None,
        suite_models=(),
        series=PatchSeries(folder=Path("p"), patches=(touching, elsewhere)),
    )
    assert report.patches is not None
    assert [(p.patch, p.files) for p in report.patches] == [("0001-a.patch", ("wgp.py",))]
    text = markdown(report)
    assert "## Downstream patches\n\n- `0001-a.patch` touches changed files: `wgp.py`" in text
    assert "patch `0001-a.patch` touches wgp.py, changed upstream" in text
    plain = diff(up, "c1", "c2", load_contract(DEFAULT_CONTRACT), overlays=None, suite_models=())
    assert plain.patches is None and "Downstream patches" not in markdown(plain)

"""Downstream patch series: loading, paths (-p1 / the wrapper's -p2), git apply's errors (harness/patches.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import WrapperConfig
from harness.errors import EXIT_FAIL, ConfigError, PatchConflict
from harness.patches import (
    Patch,
    PatchSeries,
    apply_error_location,
    conflict,
    files_touched,
    load_series,
    make_patch,
    refreshed_text,
    series_digest,
    series_for,
    series_text,
)

MAIL = """\
From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Wrapper Dev <dev@example.invalid>
Date: Mon, 5 Jan 2026 10:00:00 +0000
Subject: [PATCH] keep apply_changes

Older wrappers call it to initialise defaults.
---
 {path}wgp.py | 3 ++-
 1 file changed, 2 insertions(+), 1 deletion(-)

"""
DIFF = """\
diff --git a/{path}wgp.py b/{path}wgp.py
index 1b2a1c5..ef58862 100644
--- a/{path}wgp.py
+++ b/{path}wgp.py
@@ -3,3 +3,4 @@ import os
 a
--- a line that only looks like a header
+keep = 1
+++ neither is this
 b
@@ -12,7 +13,8 @@ def generate_video
 c
 d
 e
-f
+F
+apply_changes = None
 g
 h
 i
{signature}
2.43.0
"""


SIGNATURE = "-- "  # format-patch's mail signature line (its trailing space matters)


def text(path: str = "", mail: bool = True) -> str:
    return (MAIL.format(path=path) if mail else "") + DIFF.format(path=path, signature=SIGNATURE)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body)
    return folder


def test_without_a_series_file_every_patch_and_diff_in_name_order(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "p",
        {"0002-b.patch": text(), "0001-a.patch": text(), "0003-c.diff": text(mail=False), "README": "x"},
    )
    series = load_series(folder, "Wan2GP")
    assert [p.name for p in series.patches] == ["0001-a.patch", "0002-b.patch", "0003-c.diff"]
    assert {p.strip for p in series.patches} == {1}


def test_a_quilt_series_file_gives_order_comments_and_strip(tmp_path: Path) -> None:
    plain = DIFF.format(path="", signature=SIGNATURE).replace("a/wgp.py", "wgp.py").replace("b/wgp.py", "wgp.py")
    folder = write(
        tmp_path / "p",
        {
            "series": "# mine\n\nz.patch\na.patch -p0  # no a/ b/\n",
            "z.patch": text(),
            "a.patch": plain,
            "unlisted.patch": "not read",
        },
    )
    series = load_series(folder, "Wan2GP")
    assert [(p.name, p.strip, p.base_strip) for p in series.patches] == [("z.patch", 1, 1), ("a.patch", 0, 0)]
    assert files_touched(series.patches[1]) == ("wgp.py",)


def test_patches_made_in_the_wrapper_lose_its_upstream_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "p", {"0001-a.patch": text("Wan2GP/"), "0002-b.patch": text("vendor/wan/")})
    series = load_series(folder, "Wan2GP")
    first = series.patches[0]
    assert (first.strip, first.directory, files_touched(first)) == (2, "Wan2GP", ("wgp.py",))
    assert first.prefixes() == ("a/Wan2GP/", "b/Wan2GP/")
    nested = load_series(write(tmp_path / "q", {"0002-b.patch": text("vendor/wan/")}), "vendor/wan")
    assert (nested.patches[0].strip, files_touched(nested.patches[0])) == (3, ("wgp.py",))
    assert files_touched(series.patches[1]) == ("vendor/wan/wgp.py",)  # another folder: kept, upstream's own


def test_a_wrapper_patch_that_also_changes_the_wrappers_files_is_refused() -> None:
    mixed = text("Wan2GP/") + text(mail=False).replace("wgp.py", "worker.py")
    with pytest.raises(ConfigError) as info:
        make_patch("0001-a.patch", mixed, None, "Wan2GP", source="p/0001-a.patch")
    assert info.value.key == "wrapper.patches" and "worker.py" in str(info.value)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"series": "0001-a.patch\nmissing.patch\n", "0001-a.patch": text()}, "'missing.patch', which is not a file"),
        ({"series": "# only comments\n\n"}, "lists no patch"),
        ({"series": "a.patch -R\n", "a.patch": text()}, "option '-R' is not supported"),
        ({"series": "../a.patch\n"}, "outside the folder"),
        ({"series": "a.patch\na.patch\n", "a.patch": text()}, "listed twice"),
        ({"notes.txt": "x"}, "no `series` file and no *.patch"),
        ({"0001-a.patch": "Subject: just words\n\nno diff here\n"}, "0001-a.patch is not a patch"),
        ({"0001-a.patch": text(mail=False).split("-- \n")[0].replace(" h\n i\n", "")}, "is cut short"),
        ({"0001-a.patch": text().replace(" b\n@@", "?b\n@@")}, "does not fit its counts"),
    ],
)
def test_a_series_that_cannot_be_used_is_a_config_error(tmp_path: Path, files: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_series(write(tmp_path / "p", files), "Wan2GP")
    assert info.value.key == "wrapper.patches"
    assert words in str(info.value)
    assert info.value.exit_code == 128


def test_files_touched_reads_creations_deletions_and_renames() -> None:
    body = """\
diff --git a/new.py b/new.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/new.py
@@ -0,0 +1 @@
+x
diff --git a/old.py b/old.py
deleted file mode 100644
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git a/shared/a b.py b/shared/c d.py
similarity index 90%
rename from shared/a b.py
rename to shared/c d.py
diff --git a/empty.txt b/empty.txt
new file mode 100644
index 0000000..e69de29
"""
    patch = make_patch("x.patch", body, None, "Wan2GP", source="x")
    assert files_touched(patch) == ("empty.txt", "new.py", "old.py", "shared/a b.py", "shared/c d.py")


def test_the_digest_follows_content_not_the_folder() -> None:
    one = Patch(name="a.patch", text=text(), strip=1)
    assert series_digest(PatchSeries(folder=Path("x"), patches=(one,))) == series_digest(
        PatchSeries(folder=Path("y"), patches=(one,))
    )
    changed = Patch(name="a.patch", text=text() + "\n", strip=1)
    assert series_digest(PatchSeries(folder=Path("x"), patches=(one,))) != series_digest(
        PatchSeries(folder=Path("x"), patches=(changed,))
    )


GIT_FAILED = "error: patch failed: wgp.py:12\nerror: wgp.py: patch does not apply\n"


def test_git_applys_error_names_the_hunk_of_the_patch() -> None:
    patch = make_patch("0002-keep-apply-changes.patch", text("Wan2GP/"), None, "Wan2GP", source="x")
    assert apply_error_location(GIT_FAILED, {"wgp.py"}) == ("wgp.py", 12)
    found = conflict(patch, GIT_FAILED, "c" * 40)
    assert isinstance(found, PatchConflict)
    assert (found.patch, found.file, found.hunk) == (
        "0002-keep-apply-changes.patch",
        "wgp.py",
        "@@ -12,7 +13,8 @@ def generate_video",
    )
    assert found.exit_code == EXIT_FAIL
    assert str(found).startswith(
        "patch_conflict: 0002-keep-apply-changes.patch no longer applies to wgp.py, "
        "hunk @@ -12,7 +13,8 @@ def generate_video at cccccccccccc (git: error: patch failed: wgp.py:12; "
    )
    assert "harness patches refresh --to cccccccccccc" in str(found)


def test_a_line_inside_a_hunk_finds_the_hunk_covering_it_and_a_missing_file_has_none() -> None:
    patch = make_patch("p", text(), None, "Wan2GP", source="x")
    inside = conflict(patch, "error: patch failed: wgp.py:15\n")
    assert isinstance(inside, PatchConflict) and inside.hunk.startswith("@@ -12,7")
    merged = conflict(patch, "Applied patch to 'wgp.py' with conflicts.\nU wgp.py\n")  # --3way's words
    assert isinstance(merged, PatchConflict) and (merged.file, merged.hunk) == ("wgp.py", "")
    gone = conflict(patch, "error: wgp.py: does not exist in index\n")
    assert isinstance(gone, PatchConflict) and (gone.file, gone.hunk) == ("wgp.py", "")
    assert "no longer applies to wgp.py (git: error: wgp.py: does not exist in index)" in str(gone)


def test_an_error_naming_no_file_of_the_patch_is_the_patchs_own_defect() -> None:
    patch = make_patch("p.patch", text(), None, "Wan2GP", source="x")
    found = conflict(patch, "error: corrupt patch at line 9\n")
    assert isinstance(found, ConfigError) and "corrupt patch at line 9" in str(found)


def test_a_refreshed_patch_keeps_its_mail_without_the_stale_diffstat() -> None:
    patch = make_patch("p", text(), None, "Wan2GP", source="x")
    refreshed = refreshed_text(patch, "diff --git a/wgp.py b/wgp.py\n")
    assert refreshed.startswith("From 1111") and "Subject: [PATCH] keep apply_changes" in refreshed
    assert refreshed.endswith("initialise defaults.\n---\ndiff --git a/wgp.py b/wgp.py\n")
    plain = make_patch("p", text(mail=False), None, "Wan2GP", source="x")
    assert refreshed_text(plain, "diff\n") == "diff\n"


def test_the_series_file_says_where_it_came_from_and_keeps_p0() -> None:
    patches = (Patch(name="a.patch", text="", strip=2, directory="Wan2GP"), Patch(name="b.patch", text="", strip=0))
    assert series_text(patches, "onto abc") == "# onto abc\na.patch\nb.patch -p0\n"


def test_no_series_without_a_patches_folder(tmp_path: Path) -> None:
    wrapper = WrapperConfig(
        url="w",
        ref="HEAD",
        upstream_dir="Wan2GP",
        command="run {out}",
        results="results.json",
        requirements=None,
        patches=None,
        mirror_dir=tmp_path,
    )
    assert series_for(None) is None and series_for(wrapper) is None

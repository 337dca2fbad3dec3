"""The synthetic wrapper: a mini Headless-Wan2GP over the bundled mini Wan2GP.

It is its own git repo (made in tmp_path by the tests). Like the real wrapper it imports
`wgp` from its `Wan2GP/` folder, takes names with `from wgp import ...` and sets module
globals; `run_baseline.py --output-dir OUT` writes OUT/results.json in the seed's schema
(the old test_model_comparison.py). In wrapper mode harness places the upstream commit
under test at `Wan2GP/`, so the template vendors nothing there unless asked.

The edits below reproduce the wrapper's own breakage classes: a video the wrapper calls a
success though it is constant, and a parameter the wrapper stops passing under the name
upstream reads (upstream's **kwargs swallows it, so nothing raises).
"""

from __future__ import annotations

from pathlib import Path

from harness.sample.make import Files, read_tree, remove_global, rename_function

WRAPPER_TEMPLATE = Path(__file__).resolve().parent / "wrapper_template"
UPSTREAM_DIR = "Wan2GP"
# The wrapper's test command as harness.yaml's `wrapper.command` names it ({out}: the output folder).
COMMAND = "python run_baseline.py --output-dir {out}"
FRAMES, RESOLUTION = 5, "64x48"  # run_baseline.py's defaults: a suite judging it asks for these
MODEL = "t2v_tiny"  # run_baseline.py's one model: the suite's case matches the results row by it
WRAPPER_CULPRIT = 2  # the index in wrapper_history() of the wrapper's own bad commit
_SETS_GLOBALS = "        wgp.save_path = str(self.output_dir)\n"
_PASSES_FRAMES = "            video_length=video_length,\n"


def wrapper_files(*, vendored: Files | None = None) -> Files:
    """The wrapper's files; `vendored`: an upstream tree committed at Wan2GP/ as well.

    The real wrapper vendors Wan2GP as a plain tree; harness must test the upstream commit
    it is given, never the stale copy the wrapper carries.
    """
    files = read_tree(WRAPPER_TEMPLATE)
    for rel, text in (vendored or {}).items():
        files[f"{UPSTREAM_DIR}/{rel}"] = text
    return files


def _edit(text: str, anchor: str, replacement: str) -> str:
    if anchor not in text:  # a template change must not turn a breaking edit into a no-op
        raise ValueError(f"the wrapper template lost {anchor.strip()!r}")
    return text.replace(anchor, replacement, 1)


def flat_output(headless: str) -> str:
    """headless_wgp.py flips the engine's FLAT_OUTPUT knob: every video black, status success."""
    return _edit(headless, _SETS_GLOBALS, _SETS_GLOBALS + "        wgp.FLAT_OUTPUT = True  # faster previews\n")


def frames_renamed(headless: str) -> str:
    """headless_wgp.py passes the frame count as `num_frames`: upstream ignores it, renders 81."""
    return _edit(headless, _PASSES_FRAMES, "            num_frames=video_length,\n")


def wrapper_history() -> list[tuple[str, Files]]:
    """Four wrapper commits, oldest first; the one at WRAPPER_CULPRIT breaks it by itself."""
    headless = wrapper_files()["headless_wgp.py"] or ""
    readme = wrapper_files()["README.md"] or ""
    return [
        ("mini headless wrapper and its baseline", wrapper_files()),
        ("readme: how to run the baseline", {"README.md": readme + "\nRun it from the wrapper's root.\n"}),
        ("orchestrator: pass frames as num_frames", {"headless_wgp.py": frames_renamed(headless)}),
        ("readme: a note", {"README.md": readme + "\nRun it from the wrapper's root.\nIt needs no GPU.\n"}),
    ]


# Upstream edits that break only the wrapper (harness's own runner adapts to both): each applied
# to the upstream files in UPSTREAM_EDITED, so upstream's own callers follow the name.
UPSTREAM_EDITED = ("wgp.py", "shared/api.py")


def renamed_generate_video(text: str) -> str:
    """Upstream renames the function the wrapper imports (the 2026-06-12 `generate_media` rename)."""
    return rename_function(text, "generate_video", "generate_media")


def unset_server_config(text: str) -> str:
    """Upstream drops a module global the wrapper sets."""
    return remove_global(text, "server_config")

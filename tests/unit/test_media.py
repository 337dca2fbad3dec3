"""Contact sheets and browser-playable copies (harness/adapters/video.py), made from real clips
with PyAV in-process: the sample's MPEG-4 part 2 and an H.264 clip written here."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from harness.adapters import video as video_module
from harness.adapters.video import (
    MediaResult,
    VideoMedia,
    contact_sheet,
    needs_web_copy,
    web_copy,
    write_sample_clip,
)
from harness.ops.report import Media

TILE, GUTTER = 160, 2


def _clip(path: Path, *, width: int = 64, height: int = 48, frames: int = 20) -> Path:
    write_sample_clip(path, width=width, height=height, frames=frames, seed=7)
    return path


def _h264(path: Path, *, frames: int = 5) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(frames):
            image = np.full((48, 64, 3), n * 40, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded(path: Path) -> tuple[str, list[np.ndarray]]:
    """The codec's canonical name and every frame as RGB."""
    codec, frames, _ = _decoded_timed(path)
    return codec, frames


def _decoded_timed(path: Path) -> tuple[str, list[np.ndarray], list[float]]:
    """... and each frame's time in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        frames = [frame.to_ndarray(format="rgb24") for frame in decoded]
        return stream.codec_context.codec.canonical_name, frames, [float(frame.time or 0) for frame in decoded]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".new-" in p.name)


def test_a_sheet_tiles_eight_frames_spread_over_the_clip(tmp_path: Path) -> None:
    made = contact_sheet(_clip(tmp_path / "clip.mp4"), tmp_path / "sheet.png")
    assert made == MediaResult(path=tmp_path / "sheet.png")
    codec, [sheet] = _decoded(tmp_path / "sheet.png")
    # 64x48 enlarged to 160x120 a tile: 4 columns by 2 rows, 2 white pixels between
    assert codec == "png" and sheet.shape == (2 * 120 + GUTTER, 4 * TILE + 3 * GUTTER, 3)
    first, last = sheet[:120, :TILE], sheet[122:, 3 * (TILE + GUTTER) :]
    assert first.std() > 10 and not np.array_equal(first, last)  # noise, moving: not one colour, not one frame
    assert (sheet[:, TILE : TILE + GUTTER] == 255).all()
    # enlarged by repeating pixels: far fewer distinct columns than the tile's 160 (a blend makes each new)
    assert np.unique(first, axis=1).shape[1] < 100


def test_a_clip_of_three_frames_gives_three_tiles(tmp_path: Path) -> None:
    made = contact_sheet(_clip(tmp_path / "clip.avi", frames=3), tmp_path / "sheet.png")
    _, [sheet] = _decoded(tmp_path / "sheet.png")
    assert made.error == "" and sheet.shape == (120, 3 * TILE + 2 * GUTTER, 3)


def test_a_large_clip_is_shrunk_to_the_tile_width_aspect_kept(tmp_path: Path) -> None:
    made = contact_sheet(_clip(tmp_path / "clip.mp4", width=320, height=176, frames=2), tmp_path / "sheet.png")
    _, [sheet] = _decoded(tmp_path / "sheet.png")
    assert made.error == "" and sheet.shape == (88, 2 * TILE + GUTTER, 3)


def test_the_web_copy_is_vp9_with_every_frame_at_its_size(tmp_path: Path) -> None:
    source = _clip(tmp_path / "clip.mp4", frames=7)
    made = web_copy(source, tmp_path / "copy")
    assert made == MediaResult(path=tmp_path / "copy.webm")
    codec, frames, times = _decoded_timed(tmp_path / "copy.webm")
    assert codec == "vp9" and len(frames) == len(_decoded(source)[1]) == 7 and frames[0].shape == (48, 64, 3)
    assert times == pytest.approx([n / 16 for n in range(7)], abs=0.001)  # the sample's 16 fps, WebM's ms


def test_an_odd_sized_clip_is_copied_padded_to_even_sides(tmp_path: Path) -> None:
    made = web_copy(_clip(tmp_path / "clip.avi", width=65, height=47, frames=3), tmp_path / "copy.webm")
    _, frames = _decoded(tmp_path / "copy.webm")
    assert made.path == tmp_path / "copy.webm" and len(frames) == 3 and frames[0].shape == (48, 66, 3)


def test_mpeg4_needs_a_web_copy_h264_in_mp4_does_not(tmp_path: Path) -> None:
    assert needs_web_copy(_clip(tmp_path / "clip.mp4"))
    assert not needs_web_copy(_h264(tmp_path / "h264.mp4"))
    assert needs_web_copy(_h264(tmp_path / "h264.avi"))  # the codec plays, but not from an AVI


def _bad_video(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.mp4"
    match kind:
        case "text":
            path.write_text("not a video\n")
        case "empty":
            path.touch()
        case "symlink":  # to a good clip: open_run_file refuses it all the same
            path.symlink_to(_clip(folder / "real.mp4"))
        case "folder":
            path.mkdir()
    return path  # "missing": never made


@pytest.mark.parametrize("kind", ["text", "empty", "symlink", "missing", "folder"])
def test_what_is_not_a_readable_video_gives_a_reason_not_an_exception(tmp_path: Path, kind: str) -> None:
    video, out = _bad_video(tmp_path, kind), tmp_path / "out"
    out.mkdir()
    sheet, copy = contact_sheet(video, out / "sheet.png"), web_copy(video, out / "copy")
    assert sheet.path is None and copy.path is None and sheet.error and copy.error
    assert not needs_web_copy(video)  # nothing to copy: the sheet's reason is what the page shows
    assert list(out.iterdir()) == []


def test_a_clip_without_frames_makes_nothing(tmp_path: Path) -> None:
    video = tmp_path / "none.avi"
    with av.open(str(video), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=16)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    out = tmp_path / "out"
    out.mkdir()
    sheet, copy = contact_sheet(video, out / "sheet.png"), web_copy(video, out / "copy")
    assert sheet.error == copy.error == "no decodable frame" and list(out.iterdir()) == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    video = _clip(tmp_path / "clip.mp4", frames=3)
    (tmp_path / "sheet.png").mkdir()  # os.replace cannot put a file there: the write fails last
    (tmp_path / "copy.webm").mkdir()
    sheet, copy = contact_sheet(video, tmp_path / "sheet.png"), web_copy(video, tmp_path / "copy")
    assert sheet.error == "sheet.png: Is a directory" and copy.error == "copy.webm: Is a directory"
    assert _leftovers(tmp_path) == []


def test_decoding_stops_past_the_frame_and_size_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = _clip(tmp_path / "clip.mp4", frames=6)
    monkeypatch.setattr(video_module, "MAX_FRAMES", 4)
    assert contact_sheet(video, tmp_path / "sheet.png").error == "more than 4 frames: not a test clip"
    monkeypatch.setattr(video_module, "MAX_FRAMES", 100)
    monkeypatch.setattr(video_module, "MAX_PIXELS", 64 * 48 - 1)
    assert web_copy(video, tmp_path / "copy").error == "64x48 frames: too big for a test clip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_video_media_is_the_reports_port(tmp_path: Path) -> None:
    media: Media = VideoMedia()
    video = _clip(tmp_path / "clip.mp4", frames=3)
    assert media.sheet(video, tmp_path / "c0-sheet.png") == "" and (tmp_path / "c0-sheet.png").is_file()
    assert not media.playable(video)
    assert media.web_copy(video, tmp_path, "c0") == (tmp_path / "c0.webm", "")
    assert media.sheet(tmp_path / "c0-sheet.png", tmp_path / "c1-sheet.png") == ""  # a PNG decodes: one tile
    assert media.playable(_h264(tmp_path / "h264.mp4"))


def test_a_runs_media_index_is_remembered_whole_and_recalled(tmp_path: Path) -> None:
    media: Media = VideoMedia()
    folder = tmp_path / "run" / "report"
    folder.parent.mkdir()
    assert media.recall(folder) is None  # never made
    media.remember(folder, {"t2v": {"sheet": "s.png", "video": "v.webm", "note": ""}})
    assert media.recall(folder) == {"t2v": {"sheet": "s.png", "video": "v.webm", "note": ""}}
    assert sorted(p.name for p in folder.iterdir()) == ["media.json"]  # no staging file left
    (folder / "media.json").write_text("{not json")
    assert media.recall(folder) is None  # unreadable: made again

"""Decode and write videos on the host. The only module that imports `av` (or `cv2`).

The harness judges videos itself rather than trusting what ran inside the image. PyAV is
the decoder; OpenCV stands in where PyAV is not installed (the GPU machine's image has
OpenCV but no PyAV).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from harness.adapters.run_files import VIDEO_CAP, open_run_file
from harness.config import ClipKind
from harness.model import VideoFacts

try:
    import av
except ImportError:  # pragma: no cover - exercised on hosts without PyAV
    av = None  # type: ignore[assignment]

# A clip whose every frame is flat (std below this, in 8-bit grey levels) and whose mean
# does not move is "constant": the classic all-black or all-grey output of a broken pipeline.
FLAT_STD = 1.0


class DecodeError(Exception):
    pass


# A decoder that reports more frames than this is fed something that is not a test clip;
# stopping bounds the decode time (a tiny-frame video of 2 GiB would otherwise take minutes).
MAX_FRAMES = 20_000


def _grey_frames(handle: BinaryIO) -> Iterator[np.ndarray]:
    """Frames of an already opened, checked file (open_run_file): PyAV reads the handle, never
    a path, so nothing named like the video is opened or followed a second time."""
    if av is not None:
        try:
            with av.open(handle, mode="r") as container:
                stream = next((s for s in container.streams if s.type == "video"), None)
                if stream is None:
                    raise DecodeError("no video stream")
                for frame in container.decode(stream):
                    if isinstance(frame, av.VideoFrame):
                        yield frame.to_ndarray(format="gray")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DecodeError(str(exc)) from exc
        return
    import cv2  # the fallback decoder

    capture: Any = cv2.VideoCapture(f"/proc/self/fd/{handle.fileno()}")  # the checked file, by descriptor
    if not capture.isOpened():
        raise DecodeError("OpenCV cannot open it")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    finally:
        capture.release()


def read_frames(path: Path, limit: int = 512) -> np.ndarray:
    """Up to `limit` grey frames as one (N, H, W) uint8 array (for drift against last-good)."""
    frames = []
    with open_run_file(path, VIDEO_CAP) as handle:
        for frame in _grey_frames(handle):
            frames.append(frame)
            if len(frames) >= limit:
                break
    return np.stack(frames) if frames else np.zeros((0, 0, 0), dtype=np.uint8)


def probe_video(path: Path) -> VideoFacts:
    """What the video at `path` (in a run folder: written by the commit) is, decoded on the host."""
    try:
        handle = open_run_file(path, VIDEO_CAP)
    except FileNotFoundError:
        return VideoFacts(path=str(path), exists=False)
    except OSError as exc:  # a FIFO, a symlink, too big: named like the video, never decoded
        return VideoFacts(path=str(path), exists=True, error=str(exc))
    frames = width = height = 0
    max_std = 0.0
    means: list[float] = []
    with handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            for frame in _grey_frames(handle):
                grey = frame.astype(np.float32)
                height, width = grey.shape
                max_std = max(max_std, float(grey.std()))
                means.append(float(grey.mean()))
                frames += 1
                if frames > MAX_FRAMES:
                    raise DecodeError(f"more than {MAX_FRAMES} frames: not a test clip")
        except DecodeError as exc:
            return VideoFacts(path=str(path), exists=True, size_bytes=size, frames=frames, error=str(exc))
    if frames == 0:
        return VideoFacts(path=str(path), exists=True, size_bytes=size, error="no decodable frame")
    constant = max_std < FLAT_STD and (max(means) - min(means)) < FLAT_STD
    return VideoFacts(
        path=str(path),
        exists=True,
        decodes=True,
        frames=frames,
        width=width,
        height=height,
        constant=constant,
        size_bytes=size,
    )


def write_sample_clip(
    path: Path, kind: ClipKind = "guide", *, width: int, height: int, frames: int, seed: int, fps: int = 16
) -> None:
    """A deterministic test clip (MPEG-4 part 2, in every FFmpeg build) for `generated` inputs.

    guide: seeded noise moving sideways. mask: the same size and length, black (keep) with a
    white box in the middle (the model may paint there), its edges on 16-pixel block borders
    so the codec keeps it black and white.
    """
    if av is None:
        raise RuntimeError("writing sample clips needs PyAV (pip install av)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if kind == "mask":
            stream.options = {"qscale": "1"}  # the finest quantiser: black stays 0, white 255
        clip = _mask_frames(width, height, frames) if kind == "mask" else _guide_frames(width, height, frames, seed)
        for frame in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _guide_frames(width: int, height: int, frames: int, seed: int) -> Iterator[np.ndarray]:
    base = np.random.default_rng(seed).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    for index in range(frames):
        yield np.roll(base, index * 4, axis=1)


def _mask_frames(width: int, height: int, frames: int) -> Iterator[np.ndarray]:
    mask = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height // 4) // 16 * 16, (width // 4) // 16 * 16
    bottom, right = max(top + 16, (height * 3 // 4) // 16 * 16), max(left + 16, (width * 3 // 4) // 16 * 16)
    mask[top:bottom, left:right] = 255
    for _ in range(frames):
        yield mask


# Codecs Chromium plays in <video>; anything else (the sample's MPEG-4 part 2) gets a VP9 copy.
PLAYABLE = frozenset({"h264", "vp8", "vp9", "av1"})
SHEET_FRAMES, SHEET_COLUMNS, TILE_WIDTH = 8, 4, 160


def _rgb_frames(handle: BinaryIO) -> tuple[list[np.ndarray], str, float]:
    """Every frame (RGB, bounded by MAX_FRAMES), the codec's name and the frame rate."""
    frames = []
    with av.open(handle, mode="r") as container:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            raise DecodeError("no video stream")
        codec, rate = stream.codec_context.name, float(stream.average_rate or 16)
        for frame in container.decode(stream):
            if isinstance(frame, av.VideoFrame):
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) > MAX_FRAMES:
                raise DecodeError(f"more than {MAX_FRAMES} frames: not a test clip")
    return frames, codec, rate


def _decoded(video: Path) -> tuple[list[np.ndarray], str, float]:
    if av is None:
        raise DecodeError("PyAV is not installed")
    with open_run_file(video, VIDEO_CAP) as handle:
        try:
            frames, codec, rate = _rgb_frames(handle)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DecodeError(str(exc)) from exc
    if not frames:
        raise DecodeError("no decodable frame")
    return frames, codec, rate


def _tile(frame: np.ndarray, width: int) -> np.ndarray:
    """`frame` scaled to `width` by repeating or picking pixels: a 64x48 test clip stays crisp."""
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    rows = (np.arange(height) * frame.shape[0] // height).clip(0, frame.shape[0] - 1)
    cols = (np.arange(width) * frame.shape[1] // width).clip(0, frame.shape[1] - 1)
    tile: np.ndarray = frame[rows][:, cols]
    return tile


def sheet_image(frames: list[np.ndarray], count: int = SHEET_FRAMES, columns: int = SHEET_COLUMNS) -> np.ndarray:
    """`count` frames evenly spread over the clip, tiled in rows of `columns` (pure numpy)."""
    picks = sorted({round(i * (len(frames) - 1) / max(count - 1, 1)) for i in range(count)})
    tiles = [_tile(frames[i], TILE_WIDTH) for i in picks]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    h, w = tiles[0].shape[:2]
    sheet = np.full((rows * h + (rows - 1) * 2, columns * w + (columns - 1) * 2, 3), 255, dtype=np.uint8)
    for n, tile in enumerate(tiles):
        top, left = (n // columns) * (h + 2), (n % columns) * (w + 2)
        sheet[top : top + h, left : left + w] = tile
    return sheet


def _replace_whole(out: Path, write: Callable[[Path], None]) -> None:
    """`write` into a temporary name beside `out`, renamed over it: a killed report never leaves
    half a file that a later one takes as made."""
    staging = out.with_name(f".{out.name}.new-{os.getpid()}")
    try:
        write(staging)
        staging.replace(out)
    finally:
        staging.unlink(missing_ok=True)


def _write_png(image: np.ndarray, path: Path) -> None:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))
    packets += codec.encode(None)
    path.write_bytes(b"".join(bytes(p) for p in packets))


def _write_vp9(frames: list[np.ndarray], rate: float, path: Path) -> None:
    # VP9 in WebM: royalty-free and played by every Chromium build (Debian's included), where
    # H.264 depends on the build's codecs. Realtime speed: the copy is for looking, not archiving.
    with av.open(str(path), mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=max(1, round(rate)))
        height, width = frames[0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
        for frame in frames:
            padded = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")  # 4:2:0 needs even sizes
            for packet in stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


class VideoMedia:
    """ops/report.Media: contact sheets and browser-playable copies, made from a run's video
    opened like every run file (open_run_file: no symlink, no FIFO, bounded size)."""

    def sheet(self, video: Path, out: Path) -> str:
        try:
            frames, _, _ = _decoded(video)
            _replace_whole(out, lambda staging: _write_png(sheet_image(frames), staging))
        except (DecodeError, OSError) as exc:
            return str(exc) or type(exc).__name__
        return ""

    def playable(self, video: Path) -> bool:
        try:
            with open_run_file(video, VIDEO_CAP) as handle, av.open(handle, mode="r") as container:
                stream = next((s for s in container.streams if s.type == "video"), None)
                return stream is not None and stream.codec_context.name in PLAYABLE
        except (av.FFmpegError, OSError, ValueError):
            return True  # nothing to copy: the page shows the file as it is, and the sheet says why

    def web_copy(self, video: Path, folder: Path, stem: str) -> tuple[Path | None, str]:
        out = folder / f"{stem}.webm"
        try:
            frames, _, rate = _decoded(video)
            _replace_whole(out, lambda staging: _write_vp9(frames, rate, staging))
        except (DecodeError, OSError, av.FFmpegError) as exc:
            return None, str(exc) or type(exc).__name__
        return out, ""

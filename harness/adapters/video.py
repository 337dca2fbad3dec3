"""Decode and write videos on the host. The only module that imports `av` (or `cv2`).

The harness judges videos itself rather than trusting what ran inside the image. PyAV is
the decoder; OpenCV stands in where PyAV is not installed (the GPU machine's image has
OpenCV but no PyAV).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
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


# Codecs Chromium plays in <video>, by FFmpeg's canonical name (the AV1 decoder itself is often
# "libdav1d"), from the containers it plays them in; anything else (the sample's MPEG-4 part 2 in
# an AVI or MP4) gets a VP9 copy.
PLAYABLE = frozenset({"h264", "vp8", "vp9", "av1"})
WEB_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})  # FFmpeg's demuxer names
SHEET_FRAMES, SHEET_COLUMNS, TILE_WIDTH, GUTTER = 8, 4, 160, 2
# A frame past 8K UHD is not a test clip: this bounds what one decoded frame may hold (~100 MB as RGB).
MAX_PIXELS = 7680 * 4320
_FAILURES: tuple[type[Exception], ...] = (DecodeError, OSError, ValueError) + ((av.FFmpegError,) if av else ())


@dataclass(frozen=True, kw_only=True)
class MediaResult:
    """What a media function made (`path`), or why it made nothing (`error`, for the page to say)."""

    path: Path | None = None
    error: str = ""


@contextmanager
def _opened(video: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """The video opened like every run file (open_run_file: no symlink, no FIFO, bounded size)
    and read from that handle, with its first video stream."""
    if av is None:
        raise DecodeError("PyAV is not installed")
    with open_run_file(video, VIDEO_CAP) as handle, av.open(handle, mode="r") as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise DecodeError("no video stream")
        _check_size(stream.codec_context.width, stream.codec_context.height)  # before a frame is allocated
        yield container, stream


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise DecodeError(f"{width}x{height} frames: too big for a test clip")


def _frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """The stream's frames, one at a time (never all held), refused past MAX_FRAMES or MAX_PIXELS."""
    for n, frame in enumerate(container.decode(stream)):
        if n >= MAX_FRAMES:
            raise DecodeError(f"more than {MAX_FRAMES} frames: not a test clip")
        _check_size(frame.width, frame.height)  # the header may not have said, or the size changed
        yield frame


def _why(video: Path, exc: Exception) -> str:
    """The reason, for the page: the file named without the host's folders. FFmpeg names the
    handle it read ('3'), so its errors name the video."""
    if av is not None and isinstance(exc, av.FFmpegError):
        return f"{video.name}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{Path(str(exc.filename)).name}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _replace_whole(out: Path, write: Callable[[Path], None]) -> None:
    """`write` into a temporary name beside `out`, renamed over it: a killed report never leaves
    half a file that a later one takes as made."""
    staging = out.with_name(f".{out.name}.new-{os.getpid()}")
    try:
        write(staging)
        staging.replace(out)
    except OSError as exc:  # named as the file asked for: the temporary name means nothing to a reader
        raise OSError(exc.errno, exc.strerror, str(out)) from exc
    finally:
        staging.unlink(missing_ok=True)


def contact_sheet(
    video: Path,
    out_png: Path,
    *,
    frames: int = SHEET_FRAMES,
    columns: int = SHEET_COLUMNS,
    tile_width: int = TILE_WIDTH,
) -> MediaResult:
    """A PNG of `frames` frames spread evenly from the first to the last (all of them when the
    video has fewer), in rows of `columns`, each fitted into a `tile_width` square (aspect kept)."""
    try:
        with _opened(video) as (container, stream):  # a first pass counts: the picks need the length
            count = sum(1 for _ in _frames(container, stream))
        if not count:
            raise DecodeError("no decodable frame")
        picks = sorted({round(i * (count - 1) / max(frames - 1, 1)) for i in range(max(frames, 1))})
        with _opened(video) as (container, stream):
            tiles = _tiles(_frames(container, stream), picks, tile_width)
        image = _grid(tiles, columns)
        _replace_whole(out_png, lambda staging: _write_png(image, staging))
    except _FAILURES as exc:
        return MediaResult(error=_why(video, exc))
    return MediaResult(path=out_png)


def _tiles(frames: Iterator[av.VideoFrame], picks: list[int], box: int) -> list[np.ndarray]:
    """The picked frames as RGB tiles of one size (the first pick's fitted: a clip may change size).

    Enlarging (a 64x48 test clip) picks the nearest pixel, so its pixels stay sharp squares;
    shrinking (832x480) averages areas, so noise does not alias into patterns."""
    tiles: list[np.ndarray] = []
    wanted, size = set(picks), (0, 0)
    for n, frame in enumerate(frames):
        if n in wanted:
            scale = box / max(frame.width, frame.height)
            size = size if tiles else (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            how = "POINT" if scale > 1 else "AREA"
            tiles.append(frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation=how).to_ndarray())
        if n >= picks[-1]:
            break
    if not tiles:
        raise DecodeError("no decodable frame on the second read")
    return tiles


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """The tiles in rows of `columns` (fewer tiles: one row as wide as they are), white between."""
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    h, w = tiles[0].shape[:2]
    sheet = np.full((rows * h + (rows - 1) * GUTTER, columns * w + (columns - 1) * GUTTER, 3), 255, dtype=np.uint8)
    for n, tile in enumerate(tiles):
        top, left = (n // columns) * (h + GUTTER), (n % columns) * (w + GUTTER)
        sheet[top : top + h, left : left + w] = tile
    return sheet


def _write_png(image: np.ndarray, path: Path) -> None:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))
    packets += codec.encode(None)
    path.write_bytes(b"".join(bytes(p) for p in packets))


def needs_web_copy(video: Path) -> bool:
    """Whether a browser needs a copy: Chromium does not play the video's codec or container.
    False when it cannot be read: there is nothing to copy, and the contact sheet says why."""
    try:
        with _opened(video) as (container, stream):
            codec = stream.codec_context.codec.canonical_name
            return not (codec in PLAYABLE and container.format.name in WEB_FORMATS)
    except _FAILURES:
        return False


def web_copy(video: Path, out: Path) -> MediaResult:
    """A VP9 copy in WebM at `out` with the suffix .webm (the path returned): every frame, the same
    size (an odd side padded by one repeated edge row or column), the container's frame rate."""
    target = out.with_suffix(".webm")
    try:
        with _opened(video) as (container, stream):
            rate = stream.average_rate or stream.guessed_rate
            # The rate is what the commit's file claims: an absurd one falls back to the sample's.
            rate = rate if rate is not None and 1 <= rate <= 240 else Fraction(16)
            _replace_whole(target, lambda staging: _write_vp9(_frames(container, stream), rate, staging))
    except _FAILURES as exc:
        return MediaResult(error=_why(video, exc))
    return MediaResult(path=target)


def _write_vp9(frames: Iterator[av.VideoFrame], rate: Fraction, path: Path) -> None:
    # VP9 in WebM: royalty-free and played by every Chromium build, where H.264 needs one built
    # with proprietary codecs (Chromium's own builds are not). Realtime speed, the fastest: the
    # copy is for looking, not archiving (a 5 s 832x480 clip takes about a second).
    with av.open(str(path), mode="w", format="webm") as container:
        stream: av.video.stream.VideoStream | None = None
        for n, frame in enumerate(frames):
            if stream is None:  # its size is the first frame's: the container's header may not say
                width, height = frame.width, frame.height
                stream = container.add_stream("libvpx-vp9", rate=rate)
                stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
                stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
            picture = _even(frame, width, height)
            # Counted in the copy's time base (1/rate): the source's frames carry its own.
            picture.pts, picture.time_base = n, 1 / rate
            for packet in stream.encode(picture):
                container.mux(packet)
        if stream is None:
            raise DecodeError("no decodable frame")
        for packet in stream.encode():
            container.mux(packet)


def _even(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """`frame` at `width` x `height`, an odd side padded by a repeated edge (4:2:0 needs even sides):
    padding keeps every decoded pixel, where scaling by one pixel would resample them all."""
    if (frame.width, frame.height) != (width, height):  # a size change mid-clip: the encoder takes one size
        frame = frame.reformat(width=width, height=height)
    if not (width % 2 or height % 2):
        return frame
    rgb: np.ndarray = np.pad(frame.to_ndarray(format="rgb24"), ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")


MEDIA_INDEX = "media.json"  # what was made for each case of a run (so a render never decodes twice)


class VideoMedia:
    """ops/report.Media over the functions above; a run's media index (`media.json` in the run's
    media folder) is written whole like the sheets, so a killed report never leaves half of it."""

    def recall(self, folder: Path) -> dict[str, dict[str, str]] | None:
        try:
            doc = json.loads((folder / MEDIA_INDEX).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict):
            return None
        return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in doc.items() if isinstance(v, dict)}

    def remember(self, folder: Path, index: dict[str, dict[str, str]]) -> None:
        def write(staging: Path) -> None:
            staging.write_text(json.dumps(index, sort_keys=True))

        folder.mkdir(exist_ok=True)
        _replace_whole(folder / MEDIA_INDEX, write)

    def sheet(self, video: Path, out: Path) -> str:
        return contact_sheet(video, out).error

    def playable(self, video: Path) -> bool:
        return not needs_web_copy(video)

    def web_copy(self, video: Path, folder: Path, stem: str) -> tuple[Path | None, str]:
        made = web_copy(video, folder / stem)
        return made.path, made.error

"""Decode and write videos on the host. The only module that imports `av` (or `cv2`).

The harness judges videos itself rather than trusting what ran inside the image. PyAV is
the decoder; OpenCV stands in where PyAV is not installed (the GPU machine's image has
OpenCV but no PyAV).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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

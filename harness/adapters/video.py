"""Decode artifacts on the host with PyAV. The only module that imports `av`.

The harness judges videos itself rather than trusting what ran inside the image.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from harness.model import VideoFacts

# A clip whose every frame is flat (std below this, in 8-bit grey levels) and whose mean
# does not move is "constant": the classic all-black or all-grey output of a broken pipeline.
FLAT_STD = 1.0


def probe_video(path: Path) -> VideoFacts:
    if not path.is_file():
        return VideoFacts(path=str(path), exists=False)
    size = path.stat().st_size
    frames = width = height = 0
    max_std = 0.0
    means: list[float] = []
    try:
        with av.open(str(path)) as container:
            stream = next((s for s in container.streams if s.type == "video"), None)
            if stream is None:
                return VideoFacts(path=str(path), exists=True, size_bytes=size, error="no video stream")
            for frame in container.decode(stream):
                if not isinstance(frame, av.VideoFrame):
                    continue
                grey = frame.to_ndarray(format="gray").astype(np.float32)
                height, width = grey.shape
                max_std = max(max_std, float(grey.std()))
                means.append(float(grey.mean()))
                frames += 1
    except (av.FFmpegError, OSError, ValueError) as exc:
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


def write_sample_clip(path: Path, *, width: int, height: int, frames: int, seed: int, fps: int = 16) -> None:
    """A deterministic H.264-free test clip (MPEG-4 part 2, in every FFmpeg build)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            frame = np.roll(base, index * 4, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

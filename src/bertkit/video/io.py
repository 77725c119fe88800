"""Read and write real video files with PyAV: frames resampled to 20 fps by their timestamps, resized to a fixed
small size, cut into 1.5 s clips of 30 frames (VideoBERT's unit).

    clips = read_clips("a.mp4", size=32)      # uint8 (N, 30, 3, 32, 32)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.errors import InputError

FPS = 20            # frames per second after resampling (VideoBERT samples at 20 fps)
CLIP_FRAMES = 30    # 1.5 s at 20 fps


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise InputError("reading video needs PyAV: pip install bertkit[video]") from None
    return av


def read_frames(path: str | Path, *, fps: int = FPS, size: int = 32) -> torch.Tensor:
    """Decode `path` and resample it to `fps` by timestamps: output frame i shows the source frame on screen at
    time i / fps (the latest frame whose timestamp is <= that time), for every i / fps before the video's end
    (the last frame's timestamp plus one frame duration). Each frame is resized to size x size RGB.

    Returns uint8 (T, 3, size, size). An unreadable file or one without video frames raises InputError."""
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"video {path} is empty (zero-length video)")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise InputError(f"video {path} is not readable: {e.strerror or e}") from None
    out: list[np.ndarray] = []
    try:
        if not container.streams.video:
            raise InputError(f"video {path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or fps)
        start: float | None = None
        prev: np.ndarray | None = None
        prev_t = 0.0
        nxt = 0  # index of the next output frame
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * frame.time_base)
                if start is None:
                    start = t
                t -= start
                if prev is not None:
                    while nxt / fps < t:        # prev is on screen until t
                        out.append(prev)
                        nxt += 1
                prev = frame.reformat(width=size, height=size, format="rgb24").to_ndarray()
                prev_t = t
        except av.error.FFmpegError as e:
            raise InputError(f"video {path} is not readable: {e.strerror or e}") from None
        if prev is not None:
            end = prev_t + 1.0 / rate
            while nxt / fps < end - 1e-9:
                out.append(prev)
                nxt += 1
    finally:
        container.close()
    if not out:
        raise InputError(f"video {path} has no frames (zero-length video)")
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def split_clips(frames: torch.Tensor, clip_frames: int = CLIP_FRAMES) -> torch.Tensor:
    """(T, 3, H, W) -> (T // clip_frames, clip_frames, 3, H, W): consecutive non-overlapping clips; a trailing
    part shorter than one clip is left out (as VideoBERT does)."""
    n = frames.shape[0] // clip_frames
    return frames[: n * clip_frames].reshape(n, clip_frames, *frames.shape[1:])


def read_clips(path: str | Path, *, fps: int = FPS, size: int = 32, clip_frames: int = CLIP_FRAMES) -> torch.Tensor:
    """uint8 (N, clip_frames, 3, size, size): the 1.5 s clips of one video file. A video shorter than one clip
    raises InputError (it has no visual word)."""
    frames = read_frames(path, fps=fps, size=size)
    clips = split_clips(frames, clip_frames)
    if clips.shape[0] == 0:
        raise InputError(f"video {path} lasts {frames.shape[0] / fps:.2f} s, shorter than one "
                         f"{clip_frames / fps:g} s clip")
    return clips


def write_video(path: str | Path, frames: np.ndarray | torch.Tensor, *, fps: int = FPS, codec: str = "mpeg4",
                quality: int = 2) -> None:
    """Encode uint8 RGB frames (T, H, W, 3) as a video file (even H and W; yuv420p). `quality` is the
    encoder's qscale, 1 (best) .. 31."""
    av = _av()
    frames = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"write_video needs uint8 frames shaped (T, H, W, 3), got {frames.dtype} {frames.shape}")
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "mpeg4":
            stream.options = {"qscale": str(quality)}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

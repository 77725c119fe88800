"""A synthetic captioned video corpus: one coloured shape on black doing one motion, e.g. "a red circle moves
left", written as real video files plus captions.jsonl ({"video", "caption"} per line).

Each video lasts `clips_per_video` x 1.5 s and the motion runs across the whole video, so consecutive clips of one
video differ in a predictable way (the shape is further left, or larger, in the next clip): next-visual-token
prediction and video cloze have something to learn, and the caption names colour, shape and motion, so
text-video alignment is checkable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bertkit.errors import InputError
from bertkit.video.io import CLIP_FRAMES, FPS, write_video

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 235), "yellow": (235, 220, 40),
           "purple": (160, 60, 210), "white": (240, 240, 240)}
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("moves left", "moves right", "moves up", "moves down", "grows", "shrinks")


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    motion: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} {self.motion}"


def _mask(shape: str, size: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
    # triangle pointing up: inside the three half-planes
    top, bottom = cy - r, cy + r
    half = (yy - top) / (2 * r) * r  # half-width grows from 0 at the apex to r at the base
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)


def render_scene(scene: Scene, *, frames: int, size: int = 64, rng: np.random.Generator | None = None) -> np.ndarray:
    """uint8 (frames, size, size, 3): the scene's shape moving (or resizing) linearly over all frames."""
    rng = rng or np.random.default_rng(0)
    lo, hi = 0.22 * size, 0.78 * size
    r0 = size * rng.uniform(0.10, 0.14)
    cx0, cy0 = rng.uniform(0.4, 0.6, size=2) * size
    path = {"moves left": ((hi, cy0), (lo, cy0)), "moves right": ((lo, cy0), (hi, cy0)),
            "moves up": ((cx0, hi), (cx0, lo)), "moves down": ((cx0, lo), (cx0, hi))}
    colour = np.array(COLOURS[scene.colour], np.uint8)
    out = np.zeros((frames, size, size, 3), np.uint8)
    for i in range(frames):
        a = i / max(frames - 1, 1)
        if scene.motion in path:
            (x0, y0), (x1, y1) = path[scene.motion]
            cx, cy, r = x0 + a * (x1 - x0), y0 + a * (y1 - y0), r0
        else:
            small, big = size * 0.06, size * 0.26
            cx, cy = cx0, cy0
            r = small + a * (big - small) if scene.motion == "grows" else big - a * (big - small)
        out[i][_mask(scene.shape, size, cx, cy, r)] = colour
    return out


def render_corpus(out: str | Path, videos: int, *, seed: int = 0, clips_per_video: int = 4, size: int = 64,
                  progress: bool = True) -> Path:
    """Write `videos` files out/video_00000.mp4 ... and out/captions.jsonl; scenes are drawn uniformly (seeded)
    from colours x shapes x motions. Returns the captions file. Files already written are kept (an
    interrupted run continues where it stopped)."""
    if videos < 1 or clips_per_video < 1 or size < 16 or size % 2:
        raise InputError(f"render needs videos >= 1, clips_per_video >= 1 and an even size >= 16; got "
                         f"{videos}, {clips_per_video}, {size}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for i in tqdm(range(videos), desc="render", disable=not progress, dynamic_ncols=True):
        scene = Scene(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), str(rng.choice(MOTIONS)))
        scene_rng = np.random.default_rng(rng.integers(2 ** 63))
        name = f"video_{i:05d}.mp4"
        if not (out / name).is_file():
            tmp = out / f".{name}.tmp.mp4"
            write_video(tmp, render_scene(scene, frames=clips_per_video * CLIP_FRAMES, size=size, rng=scene_rng),
                        fps=FPS)
            tmp.replace(out / name)
        records.append({"video": name, "caption": scene.caption})
    captions = out / "captions.jsonl"
    captions.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return captions

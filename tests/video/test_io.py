"""Decoding real video files: 20 fps resampling by timestamps, 1.5 s clips, pixel values, and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bertkit.errors import InputError
from bertkit.video.io import read_clips, read_frames, split_clips, write_video


def _solid(frames: int, colour=(200, 30, 60), size: int = 48) -> np.ndarray:
    out = np.zeros((frames, size, size, 3), np.uint8)
    out[:] = colour
    return out


def test_25fps_video_of_2_5_s_resamples_to_50_frames_and_one_clip(tmp_path):
    path = tmp_path / "a.mp4"
    write_video(path, _solid(int(2.5 * 25)), fps=25)           # 62 frames at 25 fps: 2.48 s
    frames = read_frames(path, size=16)
    assert frames.shape == (50, 3, 16, 16)                       # ceil(2.48 * 20) = 50 sample times before the end
    assert read_clips(path, size=16).shape == (1, 30, 3, 16, 16)  # 50 frames -> one full 30-frame clip


def test_10fps_video_repeats_frames_by_timestamp(tmp_path):
    # 30 frames at 10 fps = 3 s -> 60 frames at 20 fps, each source frame shown twice, in order
    frames = np.zeros((30, 32, 32, 3), np.uint8)
    for i in range(30):
        frames[i] = 8 * i
    path = tmp_path / "slow.mp4"
    write_video(path, frames, fps=10)
    out = read_frames(path, size=16)
    assert out.shape[0] == 60 and read_clips(path, size=16).shape[0] == 2
    means = out.float().mean((1, 2, 3))
    expected = torch.tensor([8.0 * (i // 2) for i in range(60)])
    assert (means - expected).abs().max() < 4                     # codec tolerance on grey levels 0..232


def test_solid_colour_pixels_within_codec_tolerance(tmp_path):
    path = tmp_path / "red.mp4"
    write_video(path, _solid(40), fps=20)
    frames = read_frames(path, size=16)
    assert frames.shape[0] == 40
    err = (frames.float() - torch.tensor([200.0, 30.0, 60.0]).view(1, 3, 1, 1)).abs()
    assert err.max() <= 6                                        # yuv420p round trip of a flat colour


def test_split_clips_drops_the_partial_tail():
    frames = torch.arange(65).view(65, 1, 1, 1).expand(65, 3, 2, 2)
    clips = split_clips(frames)
    assert clips.shape == (2, 30, 3, 2, 2)
    assert clips[1, 0, 0, 0, 0] == 30 and clips[1, -1, 0, 0, 0] == 59


def test_unreadable_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match=r"^video .*bad\.mp4 is not readable: "):
        read_frames(bad)


def test_zero_length_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"^video .*empty\.mp4 is empty \(zero-length video\)$"):
        read_frames(empty)


def test_missing_file_and_too_short_video(tmp_path):
    with pytest.raises(InputError, match=r"^video .*nope\.mp4 does not exist$"):
        read_frames(tmp_path / "nope.mp4")
    short = tmp_path / "short.mp4"
    write_video(short, _solid(20), fps=20)                       # 1.0 s < one 1.5 s clip
    with pytest.raises(InputError, match=r"short\.mp4 lasts 1\.00 s, shorter than one 1\.5 s clip$"):
        read_clips(short)

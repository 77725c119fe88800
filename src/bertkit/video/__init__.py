"""Video input for VideoBERT (chapter 9): decode real video files into 1.5 s clips (io), render a synthetic
captioned corpus (synthetic), turn clips into feature vectors (features) and feature vectors into visual words
(codebook), and write the `{"video", "caption", "visual_tokens"}` JSONL the VideoBERT model reads (tokenize).

PyAV is an optional extra: `pip install bertkit[video]`.
"""
from __future__ import annotations

from bertkit.video.io import CLIP_FRAMES, FPS, read_clips, read_frames, split_clips, write_video

__all__ = ["CLIP_FRAMES", "FPS", "read_clips", "read_frames", "split_clips", "write_video"]
